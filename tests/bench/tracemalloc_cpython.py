#!/usr/bin/env python3
"""CPython's own tracemalloc cost on the workload of alloc_bench's BM_mixed_alloc*.

1024 objects are alive at any time; each step replaces a randomly chosen one with a new object
of a random size, uniform in 16..512 bytes (a bytes object whose header plus payload is that
size, so each allocation goes through pymalloc like object_malloc's, and is zero-initialised
like the C++ benchmark's memset). The loop runs under 30 nested Python frames, untraced, then
with tracemalloc.start(1) and tracemalloc.start(25).

    python3 tests/bench/tracemalloc_cpython.py [--steps N] [--repeat R]

Prints items/s (allocate+free pairs per second, best of R runs) and the slowdown against the
untraced run, to put next to alloc_bench's BM_mixed_alloc_traced/1 and /25.
"""

import argparse
import random
import sys
import time
import tracemalloc

LIVE_BLOCKS = 1024
FRAME_DEPTH = 30
BYTES_HEADER = sys.getsizeof(b"")  # 33 on 64-bit CPython: header + the trailing NUL


def make_workload(steps):
    rng = random.Random(20240611)
    slots = [rng.randrange(LIVE_BLOCKS) for _ in range(steps)]
    payloads = [rng.randint(16, 512) - BYTES_HEADER for _ in range(steps)]
    # bytes(0) is the shared empty object and allocates nothing: every step must allocate, so the
    # smallest payload is 1 byte (a 34-byte block, the 48-byte class like 17..33-byte requests).
    return slots, [max(1, p) for p in payloads]


def replace_blocks(live, slots, payloads):
    for slot, payload in zip(slots, payloads):
        live[slot] = bytes(payload)


def nested(depth, body):
    if depth == 0:
        return body()
    return nested(depth - 1, body)


def measure(nframe, slots, payloads, repeat):
    """Best items/s over `repeat` runs; nframe None means untraced."""
    best = 0.0
    for _ in range(repeat):
        live = [bytes(16) for _ in range(LIVE_BLOCKS)]
        if nframe is not None:
            tracemalloc.start(nframe)
        start = time.perf_counter()
        nested(FRAME_DEPTH, lambda: replace_blocks(live, slots, payloads))
        elapsed = time.perf_counter() - start
        if nframe is not None:
            tracemalloc.stop()
        best = max(best, len(slots) / elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    slots, payloads = make_workload(args.steps)
    untraced = measure(None, slots, payloads, args.repeat)
    print(f"CPython {sys.version.split()[0]}, {args.steps} steps, best of {args.repeat}")
    print(f"untraced           {untraced / 1e6:8.3f} M items/s")
    for nframe in (1, 25):
        traced = measure(nframe, slots, payloads, args.repeat)
        print(f"tracemalloc({nframe:2})    {traced / 1e6:8.3f} M items/s   "
              f"{untraced / traced:5.2f}x slower")


if __name__ == "__main__":
    main()
