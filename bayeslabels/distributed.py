"""Independent fits fanned out over a Dask cluster (or run one after the other here).

`fit_many` runs independent `bayeslabels.fit` calls — one per subtype, fold or bootstrap
replicate — serially in this process (``client=None``) or on a ``dask.distributed``
cluster (a ``Client``, or a scheduler address such as ``"tcp://host:8786"``), and returns
the `Fit` of each task by name. The ``tasks`` mapping comes from the builders in
`bayeslabels.splits`: `tasks_by_subtype`, `fold_tasks` (with `kfold_splits`) and
`bootstrap_tasks` (with `bootstrap_origin`).

Seeds. A task's ``seed`` is always explicit: its own ``seed`` keyword if its kwargs give one,
otherwise `task_seed(seed, name)` — a function of the base ``seed`` (default 0) and the
task's *name* only (SHA-256 of ``str(name)`` mixed into ``np.random.SeedSequence``), never of
the order of the tasks, the process it runs in or any global random state. So a task gives
the same result serially, on any cluster, alone or among others; ``bl.fit(ann,
seed=task_seed(0, name), ...)`` reproduces it.

EM over a partitioned table lives in `bayeslabels.em_dask` (`dawid_skene_em_dask`); it and the
task builders are re-exported here for code that imported them from this module.

Dask is imported only when a cluster is used (``pip install bayeslabels[dask]``).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import Annotations
from .em_dask import DaskEMResult, dawid_skene_em_dask
from .fitting import fit
from .splits import (
    bootstrap_origin,
    bootstrap_replicate,
    bootstrap_tasks,
    fold_tasks,
    kfold_splits,
    tasks_by_subtype,
)

if TYPE_CHECKING:
    from .fit import Fit

__all__ = [
    "DaskEMResult",
    "bootstrap_origin",
    "bootstrap_replicate",
    "bootstrap_tasks",
    "dawid_skene_em_dask",
    "fit_many",
    "fold_tasks",
    "kfold_splits",
    "task_seed",
    "tasks_by_subtype",
]


# =========================================================================== fan-out


def task_seed(base_seed: int, name: Hashable) -> int:
    """The seed `fit_many` gives a task that brings none: a function of ``base_seed`` and
    ``str(name)`` only (SHA-256 of the name mixed into ``np.random.SeedSequence``), in [0, 2³²)."""
    if isinstance(base_seed, bool) or not isinstance(base_seed, int | np.integer) or base_seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {base_seed!r}")
    words = np.frombuffer(hashlib.sha256(str(name).encode()).digest()[:16], dtype="<u4")
    return int(np.random.SeedSequence([int(base_seed), *map(int, words)]).generate_state(1)[0])


def _jobs(tasks: Mapping, seed: int, common: dict[str, Any]) -> list[tuple[Hashable, Annotations, dict]]:
    if not isinstance(tasks, Mapping):
        raise TypeError(
            "tasks must be a mapping name -> Annotations (or (Annotations, kwargs)), "
            f"not {type(tasks).__name__}"
        )
    if not tasks:
        raise ValueError("tasks is empty: give at least one name -> Annotations")
    jobs = []
    for name, value in tasks.items():
        if isinstance(value, Annotations):
            ann, own = value, {}
        elif (
            isinstance(value, tuple)
            and len(value) == 2
            and isinstance(value[0], Annotations)
            and isinstance(value[1], Mapping)
        ):
            ann, own = value[0], dict(value[1])
        else:
            raise TypeError(
                f"task {name!r}: expected an Annotations or a pair (Annotations, dict of fit keyword "
                f"arguments), got {type(value).__name__}"
            )
        kwargs = {"quiet": True, **common, **own}
        if kwargs.get("seed") is None:
            kwargs["seed"] = task_seed(seed, name)
        jobs.append((name, ann, kwargs))
    return jobs


_COMPILE_LOCK = threading.Lock()


def _fit_task(ann: Annotations, kwargs: dict[str, Any]) -> Fit:
    """One task, wherever it runs. PyTensor's compile cache is not thread-safe (two threads
    compiling at once fail in ``ModuleCache.add_key``), so in one process the fits that build
    a PyMC model run one at a time; EM (NumPy only) runs freely. Parallel PyMC fits need
    worker processes (``LocalCluster``'s default), best with one thread each."""
    if kwargs.get("method") == "em":
        return fit(ann, **kwargs)
    with _COMPILE_LOCK:
        return fit(ann, **kwargs)


def _name_task(exc: BaseException, name: Hashable) -> None:
    exc.add_note(f"bayeslabels.fit_many: raised by task {name!r}")


@contextmanager
def _connected(client: Any) -> Iterator[Any]:
    """A distributed Client: the one given, or a new one connected to an address (closed after)."""
    if isinstance(client, str):
        from distributed import Client

        with Client(client, set_as_default=False) as connected:
            yield connected
    elif hasattr(client, "submit") and hasattr(client, "scatter"):
        yield client
    else:
        raise TypeError(
            f"client must be None (run here), a distributed.Client or a scheduler address string such as "
            f"'tcp://host:8786', not {type(client).__name__}"
        )


def fit_many(
    tasks: Mapping[Hashable, Annotations | tuple[Annotations, Mapping[str, Any]]],
    *,
    client: Any = None,
    seed: int = 0,
    **fit_kwargs: Any,
) -> dict[Hashable, Fit]:
    """Independent `bayeslabels.fit` calls, by name; returns ``{name: Fit}`` in the tasks' order.

    ``quiet`` defaults to True. If a task fails, its exception is re-raised here (the other
    tasks are cancelled) with a note naming the task.

    Within one worker process, fits that compile a PyMC model (every method but ``"em"``) run
    one at a time (PyTensor's compile cache is not thread-safe): parallelism comes from
    worker processes, e.g. ``LocalCluster(n_workers=..., threads_per_worker=1)``.

    Parameters
    ----------
    tasks : mapping
        Name → `Annotations` (fitted with ``fit_kwargs``), or name → ``(Annotations,
        kwargs)`` whose kwargs override ``fit_kwargs`` for that task — e.g. from
        `tasks_by_subtype`, `fold_tasks` or `bootstrap_tasks`.
    client : distributed.Client, str or None, default None
        ``None`` runs the tasks one after the other here; a ``distributed.Client`` or a
        scheduler address (``"tcp://host:8786"``) runs them on that cluster (each task's
        `Annotations` is scattered to a worker, the `Fit` gathered back).
    seed : int, default 0
        The base seed: a task without a ``seed`` of its own is fitted with
        ``task_seed(seed, name)``, so the serial and the distributed run give identical fits.
    **fit_kwargs
        Keyword arguments of `bayeslabels.fit` for every task.

    Returns
    -------
    dict
        Name → `Fit`, in the tasks' order.

    Raises
    ------
    ValueError
        If ``tasks`` is empty or ``seed`` is negative.
    TypeError
        If a task is not `Annotations` (or such a pair), or ``client`` is of another type.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fits = bl.fit_many(bl.tasks_by_subtype(bl.datasets.load("rte")), method="em")
    >>> list(fits)
    ['CD', 'IE', 'IR', 'MT', 'PP', 'QA', 'RC']
    >>> fits["CD"].annotations.n_items
    150
    >>> from distributed import Client  # doctest: +SKIP
    >>> with Client("tcp://scheduler:8786") as client:  # doctest: +SKIP
    ...     fits = bl.fit_many(bl.bootstrap_tasks(bl.datasets.load("rte"), n=20), client=client)
    """
    jobs = _jobs(tasks, seed, fit_kwargs)
    results: dict[Hashable, Fit] = {}
    if client is None:
        for name, ann, kwargs in jobs:
            try:
                results[name] = _fit_task(ann, kwargs)
            except Exception as exc:
                _name_task(exc, name)
                raise
        return results

    with _connected(client) as connected:
        run = uuid.uuid4().hex[:8]
        futures = []
        for position, (name, ann, kwargs) in enumerate(jobs):
            data = connected.scatter(ann, hash=False)
            key = f"bayeslabels-fit-{run}-{position}"
            futures.append((name, connected.submit(_fit_task, data, kwargs, key=key, pure=False)))
        try:
            for name, future in futures:
                try:
                    results[name] = future.result()
                except Exception as exc:
                    _name_task(exc, name)
                    raise
        finally:
            pending = [f for _, f in futures if not f.done()]
            if pending:
                connected.cancel(pending)
    return results
