# SIGINT during main: KeyboardInterrupt, traceback, atexit still runs, then the process dies of
# SIGINT (not exit 130).
import atexit
import os
import signal
import time

atexit.register(lambda: print("event atexit", flush=True))
print("event main", flush=True)
os.kill(os.getpid(), signal.SIGINT)
time.sleep(20)
print("event not reached", flush=True)
