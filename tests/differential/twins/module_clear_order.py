# finalize_modules: a module only sys.modules holds dies with sys.modules' entry (its globals in
# insertion order); a cycle in __main__ dies in the collection after that; a module something
# else keeps alive has its globals set to None, `_private` first, and its finalizers see them.
import sys
import types

kept = types.ModuleType("kept")
exec(
    "class Noisy:\n"
    "    def __init__(self, name):\n"
    "        self.name = name\n"
    "    def __del__(self):\n"
    "        print('event del', self.name, 'b=None' if b is None else 'b=set', flush=True)\n",
    kept.__dict__,
)
for name in ("b", "__c", "_a", "d"):
    setattr(kept, name, kept.Noisy(name))
sys.modules["kept"] = kept
sys.kept_alive = kept  # something other than sys.modules holds it

dropped = types.ModuleType("dropped")
dropped.y = kept.Noisy("y")
dropped._x = kept.Noisy("_x")
sys.modules["dropped"] = dropped


class Cycle:
    def __del__(self):
        print("event del cycle", flush=True)


cycle = Cycle()
cycle.self = cycle
del kept, dropped, name
print("event main done", flush=True)
