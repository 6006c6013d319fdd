# An exception nothing catches: traceback, atexit, exit status 1.
import atexit

atexit.register(lambda: print("event atexit", flush=True))
print("event main", flush=True)
raise RuntimeError("boom")
