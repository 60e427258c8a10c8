"""Block-parallel passes over items on threads, results in order.

The per-draw item passes (soft labels, intervals, predictions) are NumPy / SciPy calls on
blocks of draws × items × K that release the GIL (sparse products, exp, sort), so threads
use every core without copying the draws into other processes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def ordered_map[Arg, Result](
    function: Callable[[Arg], Result], args: Iterable[Arg], workers: int | None = None
) -> Iterator[Result]:
    """``function(a)`` for each ``a`` of ``args``, computed on ``workers`` threads (default:
    the usable cores), yielded in the order of ``args``. At most ``workers + 1`` results are
    computed ahead of the consumer, so a pass over millions of items holds a few blocks in
    memory, not all of them. One worker: a plain loop, no thread."""
    workers = usable_cores() if workers is None else max(1, workers)
    if workers == 1:
        yield from map(function, args)
        return
    pending: deque[Future[Result]] = deque()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for arg in args:
                pending.append(pool.submit(function, arg))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # the consumer stopped early or a block failed: drop what is queued
            for future in pending:
                future.cancel()
