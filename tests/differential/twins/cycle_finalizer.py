# A reference cycle with a finalizer, reachable from __main__'s globals until exit: it dies
# after atexit, in finalize_modules' collection.
import atexit


class Node:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print(f"event del {self.name}", flush=True)


a = Node("a")
b = Node("b")
a.peer = b
b.peer = a
atexit.register(lambda: print("event atexit", flush=True))
print("event main done", flush=True)
