#!/usr/bin/env python3
"""CPython's finalization time for the heap finalize_bench builds.

finalize_cpython.py N builds N lists [int, str, dict] reachable from __main__'s globals in a
child interpreter, once ending with a normal exit (Py_FinalizeEx runs) and once with
os._exit (nothing runs). The child prints time.monotonic() right before it ends; the parent
reads the clock when the child has been reaped. finalize_ms is the difference between the two
exits (best of REPEAT each), i.e. what finalization costs beyond the OS tearing the process
down. Prints `finalize_ms=X`, and `finalize_cpu_ms=Y`: the same difference in the children's
CPU time (user + system) spent after that last line, which a loaded machine disturbs less. The
child prints its own CPU time with the clock, so start-up and building the heap are not counted.
"""
import os
import resource
import subprocess
import sys
import time

REPEAT = 3
CHILD = r"""
import os, resource, sys, time
n = int(sys.argv[1])
data = [[i, str(i), {}] for i in range(n)]
usage = resource.getrusage(resource.RUSAGE_SELF)
print(time.monotonic(), usage.ru_utime + usage.ru_stime, flush=True)
if sys.argv[2] == "immediate":
    os._exit(0)
"""


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def exit_seconds(n, mode):
    """(wall seconds from the child's last line to its reaping, its CPU seconds after that line)."""
    cpu_before = children_cpu()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(n), mode], stdout=subprocess.PIPE)
    line = child.stdout.readline()
    child.wait()
    end = time.monotonic()
    if child.returncode != 0:
        sys.exit(f"child ({mode}) failed with {child.returncode}")
    stamp, cpu_at_line = (float(field) for field in line.split())
    return end - stamp, children_cpu() - cpu_before - cpu_at_line


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: finalize_cpython.py N")
    n = int(sys.argv[1])
    normal = [exit_seconds(n, "normal") for _ in range(REPEAT)]
    immediate = [exit_seconds(n, "immediate") for _ in range(REPEAT)]
    wall = min(w for w, _ in normal) - min(w for w, _ in immediate)
    cpu = min(c for _, c in normal) - min(c for _, c in immediate)
    print(f"finalize_ms={wall * 1000:.1f}")
    print(f"finalize_cpu_ms={cpu * 1000:.1f}")


if __name__ == "__main__":
    main()
