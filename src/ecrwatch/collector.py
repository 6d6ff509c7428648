"""The cyclic garbage collector, run less often while `check` works.

`check` decodes millions of small objects (tasks, pods, findings) and keeps most of them to the end. With
Python's default thresholds a collection starts every 700 new objects and, as the heap grows, ever more of
them walk every object kept so far: at organisation scale that was a third of check's CPU time (5-9 s of
20 s). What check makes holds no reference cycles worth finding early; memory freed by reference counting
is unaffected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# New objects between two youngest-generation collections (Python's default: 700). Measured on the
# benchmark's scenario L: 10,000 left 1.5 s of collections, 50,000 about 0.4 s, more changed nothing.
YOUNG_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect less often inside the block; the thresholds as they were afterwards (nested blocks too)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
