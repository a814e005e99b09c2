"""Running a sweep's runs: in this process, in local processes, or on a Dask cluster.

Every backend calls the same :func:`execute` on each :class:`RunTask`. A worker process
keeps, per (workload, seed, value key), the network's tensors and the values its first run
there recorded (:func:`accelsim.sim.simulate.record_values`); its later runs only count. The
values are never shipped between processes (on a cluster they would cost more to move than
to recompute): each process computes them once per workload, with a run it had to do anyway.

Within one process runs take turns (a lock): numba's OpenMP and workqueue layers do not
allow parallel kernels launched from several threads at once, and the simpy engine holds
the GIL. Parallelism comes from processes; in each, numba's kernels get the CPUs left
over (``CPUs // processes`` threads).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import pandas as pd

from accelsim.config import ArchConfig
from accelsim.errors import AccelsimError
from accelsim.sim.rows import topology_row
from accelsim.sim.simulate import record_values, simulate
from accelsim.sim.values import value_key
from accelsim.workload import Network, load_tensors

CACHED_WORKLOADS = 2
"""Workloads whose values a process keeps (runs are submitted workload by workload)."""


@dataclass(frozen=True)
class RunTask:
    """One config on one workload; ``key`` names its result in the store."""

    key: str
    arch: ArchConfig
    network: Network
    network_digest: str
    seed: int
    values: str = "calibrated"


@dataclass
class RunOutcome:
    """``status``: ``ok``, ``failed`` (the input's fault: an unmappable layer, with the
    reason in ``error``) or ``error`` (a bug: ``error`` holds the traceback's last line).
    ``counted``: the run reused known values and only counted."""

    key: str
    status: str
    error: str = ""
    layers: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    counted: bool = False


# ---- in a worker ---------------------------------------------------------------------------
_LOCK = threading.Lock()
_TENSORS: OrderedDict = OrderedDict()
_VALUES: OrderedDict = OrderedDict()


def execute(task: RunTask) -> RunOutcome:
    """Simulate one run; never raises (a failure is an outcome)."""
    with _LOCK:
        started = time.perf_counter()
        try:
            result, counted = _simulate(task)
        except AccelsimError as err:   # e.g. MappingError: the config cannot run this network
            reason = str(err).removeprefix(f"{task.arch.origin or task.arch.name}: ")
            return RunOutcome(task.key, "failed", reason.replace("\n", "; "),
                              seconds=time.perf_counter() - started)
        except Exception as err:   # noqa: BLE001 -- recorded, the sweep goes on
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            return RunOutcome(task.key, "error", last, seconds=time.perf_counter() - started)
        summary = {k: (v.item() if hasattr(v, "item") else v)
                   for k, v in result.summary.items()}
        return RunOutcome(task.key, "ok", layers=result.layers, summary=summary,
                          seconds=time.perf_counter() - started, counted=counted)


def _simulate(task: RunTask):
    """A count-only run on this process's known values, or a full run recording them (a
    SCALE-Sim topology row's N:M applied first, as ``accelsim run`` applies it)."""
    workload = (task.network_digest, task.seed, task.values)
    if workload not in _TENSORS:
        _remember(_TENSORS, workload, load_tensors(task.network, task.seed,
                                                   values=task.values))
    arch, tensors = topology_row(task.arch, task.network, _TENSORS[workload])
    values_key = (*workload, value_key(arch), tensors.provenance["weights"])
    known = _VALUES.get(values_key)
    if known is not None:
        _VALUES.move_to_end(values_key)
        return simulate(arch, task.network, seed=task.seed, reuse=known), True
    result, known = record_values(arch, task.network, seed=task.seed, tensors=tensors)
    _remember(_VALUES, values_key, known)
    return result, False


def _remember(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > CACHED_WORKLOADS:
        cache.popitem(last=False)


def _init_worker(numba_threads: int, sweep_pid: int) -> None:
    """Share the CPUs between processes, and leave when the sweep's process is gone (a
    SIGKILL gives it no chance to stop its pool: the workers would wait forever)."""
    import numba

    numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))
    threading.Thread(target=_exit_with, args=(sweep_pid,), daemon=True).start()


def _exit_with(pid: int, every_s: float = 0.5) -> None:
    while True:
        time.sleep(every_s)
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):   # gone (or its pid reused)
            os._exit(1)


# ---- backends ------------------------------------------------------------------------------
Done = Callable[[RunOutcome], None]


def execute_runs(tasks: Sequence[RunTask], done: Done, *, jobs: int | None = None,
                 scheduler=None, pool: ProcessPoolExecutor | None = None) -> str:
    """Run every task, calling ``done`` with each outcome as it finishes (in this process,
    in completion order); returns a description of the workers used. ``pool``: processes
    of :func:`local_pool` to run on (a search's batches keep their workers' values)."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise AccelsimError(f"jobs must be an integer >= 1, got {jobs!r}")
    if not tasks:
        return ""
    if scheduler is not None:
        return _on_dask(tasks, done, scheduler)
    if pool is not None:
        _on_pool(pool, tasks, done)
        return "local processes"
    jobs = jobs or available_cpus()
    jobs = min(jobs, max(len(tasks), 1))
    if jobs == 1:
        for task in tasks:
            done(execute(task))
        return "this process"
    with local_pool(jobs) as pool:
        _on_pool(pool, tasks, done)
    return f"{jobs} local processes"


def local_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes sharing the CPUs, leaving when this process is gone."""
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    threads = max(1, available_cpus() // jobs)
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                               initargs=(threads, os.getpid()))


def _on_pool(pool: ProcessPoolExecutor, tasks: Sequence[RunTask], done: Done) -> None:
    futures = [pool.submit(execute, task) for task in tasks]
    try:
        for future in as_completed(futures):
            done(future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _on_dask(tasks: Sequence[RunTask], done: Done, scheduler) -> str:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise AccelsimError("--scheduler needs the 'distributed' package "
                            "(pip install distributed)") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="20s") if own else scheduler
    except (OSError, TimeoutError, ValueError) as err:
        raise AccelsimError(f"scheduler {scheduler}: cannot connect ({err})") from None
    try:
        where = f"Dask cluster at {client.scheduler.address} ({len(client.nthreads())} workers)"
        futures = [client.submit(execute, task, pure=False) for task in tasks]
        try:
            for future in dask_completed(futures):
                done(future.result())
                future.release()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()
    return where
