# Finalizer order over several collections of a list and a dict of 300 nodes each (more than
# 256 items: the collector traverses them in step with its scan), whose items come after them
# in the collector's lists, interleaved, with a few items made before them and garbage among
# the items, and two items out of order (n10, n11). Which objects a collection moves to the end
# of its generation decides the order in which a later one finalizes them: b0 and c0..c2 are
# found only through the containers, after the scan passed them, so they move behind the other
# nodes, in the order the containers are traversed (the dict's insertion order: c2, c0, c1; the
# list's last item first: b1, b0).
import gc

gc.disable()
# Start from a known state: every object made so far, this module's globals dict among them, in
# the oldest generation. Without it the order below depends on the interpreter's start-up: a full
# collection scans generation 2, then 0, then 1 (gcmodule.c merges the younger generations into
# the oldest in that order), and which generation __main__'s dict is in when the script starts
# depends on how much `site` imported (Debian's 3.11.2 leaves it in generation 1, so the scan
# reaches it after the nodes and moves them all; pyenv's 3.11.7 with two .pth files in
# site-packages has run two generation-1 collections and left it in generation 2).
gc.collect()


class Node:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print(f"event del {self.name}", flush=True)


b0 = Node("b0")
b1 = Node("b1")
c0 = Node("c0")
c1 = Node("c1")
c2 = Node("c2")
big = []
table = {}
for i in range(300):
    n = Node(f"n{i}")
    if i % 50 == 0:
        n.me = n
    big.append(n)
    table[f"t{i}"] = Node(f"t{i}")
    if i == 150:
        g1 = Node("g1")
        g2 = Node("g2")
        g1.peer = g2
        g2.peer = g1
        del g1, g2
del n
big[10], big[11] = big[11], big[10]
big.append(b0)
big.append(b1)
table["c2"] = c2
table["c0"] = c0
table["c1"] = c1
del b0, b1, c0, c1, c2
print("event collect 1", flush=True)
gc.collect()
print("event collect 2", flush=True)
big[50] = None
big[100] = None
gc.collect()
print("event collect 3", flush=True)
big.append(table)
table["big"] = big
del big, table
gc.collect()
print("event done", flush=True)
