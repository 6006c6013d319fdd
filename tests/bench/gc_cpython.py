#!/usr/bin/env python3
"""The CPython side of tests/bench/gc_bench: the same graphs, timed around gc.collect().

usage: gc_cpython.py [N]   (default 1000000)

Prints, for N objects in 2-cycles of `class Node: __slots__ = ('other',)` (one allocation and
one reference per object, like gc_bench's Node), the median over 5 runs:
  ns_per_object=X          gc.collect() time / N
  cpu_ns_per_object=X      the same in thread CPU time (not counting preemption)
  list_ns_per_object=X     the same with lists ([b] / [a])
  mixed_ns_per_object=X    Node pairs of which every 10th is kept alive by a list (per object
                           in the collected set, N + 1)
  young_pause_ns=X         gc.collect(0) with 700 young garbage objects beside N old ones
"""
import gc
import statistics
import sys
import time

RUNS = 5


class Node:
    __slots__ = ("other",)


def make_node_pairs(n):
    for _ in range(n // 2):
        a = Node()
        b = Node()
        a.other = b
        b.other = a


def make_list_pairs(n):
    for _ in range(n // 2):
        a = []
        b = [a]
        a.append(b)


def time_collect(make, n):
    """Median (wall ns, thread CPU ns) per object of gc.collect() over RUNS graphs."""
    wall = []
    cpu = []
    for _ in range(RUNS):
        make(n)
        cpu_start = time.thread_time_ns()
        start = time.perf_counter_ns()
        collected = gc.collect()
        elapsed = time.perf_counter_ns() - start
        cpu_elapsed = time.thread_time_ns() - cpu_start
        if collected != n:
            sys.exit(f"gc.collect() found {collected} objects, expected {n}")
        wall.append(elapsed / n)
        cpu.append(cpu_elapsed / n)
    return statistics.median(wall), statistics.median(cpu)


def time_mixed(n):
    samples = []
    for _ in range(RUNS):
        roots = []
        for i in range(n // 2):
            a = Node()
            b = Node()
            a.other = b
            b.other = a
            if i % 10 == 0:
                roots.append(a)
        del a, b
        start = time.perf_counter_ns()
        collected = gc.collect()
        elapsed = time.perf_counter_ns() - start
        if collected != n - n // 10:
            sys.exit(f"gc.collect() found {collected} objects, expected {n - n // 10}")
        samples.append(elapsed / (n + 1))
        del roots
        gc.collect()
    return statistics.median(samples)


def young_pause(n):
    old = []
    for _ in range(n):
        old.append(Node())
    gc.collect()
    samples = []
    for _ in range(RUNS * 20):
        make_node_pairs(700)
        start = time.perf_counter_ns()
        collected = gc.collect(0)
        elapsed = time.perf_counter_ns() - start
        if collected != 700:
            sys.exit(f"gc.collect(0) found {collected} objects, expected 700")
        samples.append(elapsed)
    return statistics.median(samples)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    gc.collect()
    gc.disable()  # automatic collections would interleave with building the graph
    print(f"python={sys.version.split()[0]} objects={n}")
    wall, cpu = time_collect(make_node_pairs, n)
    print(f"ns_per_object={wall:.2f}")
    print(f"cpu_ns_per_object={cpu:.2f}")
    print(f"list_ns_per_object={time_collect(make_list_pairs, n)[0]:.2f}")
    print(f"mixed_ns_per_object={time_mixed(n):.2f}")
    print(f"young_pause_ns={young_pause(n):.0f}")


if __name__ == "__main__":
    main()
