"""Running cases: in this process, or in a local pool of worker processes.

Each case is converted and its record saved by the worker itself, so the
parent only counts results; the output never depends on which worker ran a
case or in which order cases finished.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Deque, Dict, Iterator, List, Optional

from .headers import PEAK_FACTOR, decoded_bytes
from .inputs import DEFAULT_MAX_VOXELS, CaseSpec
from .options import Options
from .ownership import save_started
from .pipeline import convert_spec
from .record import CaseRecord
from .state import save_record


@dataclass
class CaseResult:
    key: str
    record: Optional[CaseRecord]
    error: Optional[str]
    seconds: float


def run_case(spec: CaseSpec, out_dir: Path, options: Options) -> CaseResult:
    """Converts one case and saves its record; any failure becomes an error line."""
    start = time.perf_counter()
    try:
        record = convert_spec(spec, out_dir, options,
                              on_start=lambda prefixes: save_started(out_dir, spec.key, prefixes))
        # Real paths: a later run (another working folder) tells this case's sources from another's.
        record.sources = tuple(os.path.realpath(p) for p in record.sources)
        save_record(out_dir, spec.key, record)
    except Exception as exc:  # one case's failure must not stop the run
        message = str(exc) if isinstance(exc, (ValueError, OSError)) else f"{type(exc).__name__}: {exc}"
        if not any(p in message for p in spec.sources):
            message = f"{spec.images[0]}: {message}"
        return CaseResult(spec.key, None, message.splitlines()[0], time.perf_counter() - start)
    return CaseResult(spec.key, record, None, time.perf_counter() - start)


def run_local(
    specs: List[CaseSpec],
    out_dir: Path,
    options: Options,
    workers: int,
    stop: Callable[[CaseResult], bool] = lambda r: False,
    task: Callable[[CaseSpec, Path, Options], CaseResult] = run_case,
) -> Iterator[CaseResult]:
    """Yields each case's result as it finishes; ``stop`` ends the run early;
    ``task`` (a module-level function, for the worker processes) runs one case.

    A worker process that dies (killed, out of memory) breaks the pool; the
    cases it was running are then retried one at a time in a fresh process,
    so the case that kills its worker alone is reported and the others go on.
    """
    if workers <= 1:
        for spec in specs:
            result = task(spec, out_dir, options)
            yield result
            if stop(result):
                return
        return
    queue = deque(specs)
    while queue:
        suspects: List[CaseSpec] = []
        for result in _run_pool(queue, out_dir, options, workers, suspects, task):
            yield result
            if stop(result):
                return
        for spec in suspects:  # alone, so that a death names its case
            died: List[CaseSpec] = []
            for result in _run_pool(deque([spec]), out_dir, options, 1, died, task):
                yield result
                if stop(result):
                    return
            if died:
                result = CaseResult(spec.key, None, f"{spec.images[0]}: the worker process died while converting "
                                                   f"this case (killed, or out of memory)", 0.0)
                yield result
                if stop(result):
                    return


@contextmanager
def _workers_ignore_interrupts() -> Iterator[None]:
    """Ctrl-C reaches the whole process group; the parent handles it, workers stay quiet
    from their first instruction on. A worker set to ignore it by the pool's initializer
    still took Ctrl-C while it imported the package, and printed a traceback; an ignored
    signal is inherited across exec and Python keeps it ignored, so the parent ignores
    Ctrl-C for the moment it starts a worker (inside ``pool.submit``). Signals are set in
    the main thread only; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_pool(queue: Deque[CaseSpec], out_dir: Path, options: Options, workers: int,
              broken: List[CaseSpec], task) -> Iterator[CaseResult]:
    """Runs cases from ``queue`` until it is empty or the pool breaks; the cases
    that were running when it broke are appended to ``broken``."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        running = {}
        try:
            while queue or running:
                while queue and len(running) < 2 * workers:
                    spec = queue.popleft()
                    with _workers_ignore_interrupts():  # workers are started on demand, here
                        running[pool.submit(task, spec, out_dir, options)] = spec
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    spec = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken.append(spec)
                        continue
                    yield result
                if broken:
                    broken.extend(running.values())
                    running.clear()
                    return
        finally:
            for future in running:
                future.cancel()


@dataclass
class MemoryPlan:
    """Cases split by what they need: a worker's share of memory, all of it, or more."""

    shared: List[CaseSpec]
    alone: List[CaseSpec]
    too_big: Dict[str, str]  # case key -> error line


def plan_by_memory(specs: List[CaseSpec], workers: int, available: int,
                   max_voxels: int = DEFAULT_MAX_VOXELS, scaled: bool = False) -> MemoryPlan:
    """A case whose decoded arrays (times the measured peak factor) do not fit in
    ``available / workers`` runs alone after the others; one that does not fit in
    ``available`` fails before anything is decoded. Headers that cannot be read,
    or that claim more than ``max_voxels``, are left to the case itself to report.
    ``scaled``: the images are read as float64 values (``decoded_bytes``)."""
    plan = MemoryPlan([], [], {})
    share = available // max(workers, 1)
    for spec in specs:
        try:
            need = PEAK_FACTOR * decoded_bytes(spec, max_voxels, scaled)
        except Exception:
            need = 0
        if need > available:
            plan.too_big[spec.key] = (
                f"{spec.images[0]}: needs about {need / 2**30:.1f} GiB to convert, "
                f"only {available / 2**30:.1f} GiB of memory is available"
            )
        elif need > share and workers > 1:
            plan.alone.append(spec)
        else:
            plan.shared.append(spec)
    return plan


def run_dask(
    specs: List[CaseSpec],
    out_dir: Path,
    options: Options,
    workers: int,
    scheduler: Optional[str] = None,
    stop: Callable[[CaseResult], bool] = lambda r: False,
    task: Callable[[CaseSpec, Path, Options], CaseResult] = run_case,
) -> Iterator[CaseResult]:
    """Each case a task on a Dask cluster (``scheduler`` address), or on a LocalCluster
    of ``workers`` processes. Workers write into OUT themselves (a shared file system);
    a task whose worker is lost is run again elsewhere by Dask, and a case that keeps
    killing workers is reported."""
    try:
        from distributed import Client, LocalCluster, as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise RuntimeError("the Dask executor needs Dask: pip install 'samed2d_fast[dask]'") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
    client = Client(scheduler or cluster)
    try:
        futures = {client.submit(task, spec, out_dir, options, key=f"samed2d-{spec.key}", pure=False): spec
                   for spec in specs}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                result = future.result()
            except KilledWorker:
                result = CaseResult(spec.key, None, f"{spec.images[0]}: Dask workers kept dying while "
                                                   f"converting this case (killed, or out of memory)", 0.0)
            except FutureCancelledError:
                continue
            yield result
            if stop(result):
                for other in futures:
                    other.cancel()
                return
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
