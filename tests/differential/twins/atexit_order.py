# atexit: LIFO with arguments, a failing callback is reported and the rest still run; exit 0.
import atexit


def say(n, word=""):
    print(f"event atexit {n}{' ' + word if word else ''}", flush=True)


def fail():
    print("event atexit failing", flush=True)
    raise RuntimeError("boom in atexit")


atexit.register(say, 1)
atexit.register(fail)
atexit.register(say, 2, "two")
atexit.register(say, 3)
print("event main done", flush=True)
