"""One way to fan per-case work out over processes, in input order, with a serial path for 1."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor


def map_cases(fn: Callable, items: Iterable, workers: int = 1) -> Iterator:
    """`map(fn, items)` over `workers` processes (fn and items must pickle); results in input order."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items)
