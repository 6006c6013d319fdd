# stdout cannot be flushed at exit (its fd is closed): all of finalization runs, status 120.
import atexit
import os

atexit.register(lambda: os.write(2, b"event atexit\n"))
print("buffered output")
os.close(1)
