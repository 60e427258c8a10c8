"""Evaluating model graphs in tests without compiling them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytensor


@contextmanager
def interpreted() -> Iterator[None]:
    """PyTensor functions compiled in this block run each op's Python ``perform`` (the VM of
    FAST_COMPILE with no C compiler), not C or numba code. The tests that use it check values
    (a log-probability against enumeration, a gradient against another graph's) on tiny data,
    where compiling costs a minute per graph on a cold cache and running costs milliseconds."""
    with pytensor.config.change_flags(cxx="", mode="FAST_COMPILE"):
        yield
