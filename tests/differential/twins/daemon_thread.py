# Threads at exit: the non-daemon worker is joined before atexit; the daemon, woken by an
# atexit callback, never runs again (it stops when it asks for the GIL).
import atexit
import threading
import time

started = threading.Event()
go = threading.Event()


def worker():
    time.sleep(0.2)
    print("event worker done", flush=True)


def daemon():
    print("event daemon started", flush=True)
    started.set()
    go.wait()
    print("event daemon ran after atexit", flush=True)


def release_daemon():
    print("event atexit releases daemon", flush=True)
    go.set()


threading.Thread(target=worker).start()
threading.Thread(target=daemon, daemon=True).start()
started.wait()
atexit.register(release_daemon)
print("event main done", flush=True)
