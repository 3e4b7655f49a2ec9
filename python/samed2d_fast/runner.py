"""A conversion run: cases -> files and records -> metadata -> summary.

Used by ``samed2d convert``, ``demo`` and ``merge``. Everything a run decides is
kept in OUT's state (records, failures, unlabelled images), so a resumed run,
a Dask run and merged shards all end with the bytes of one plain run.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from . import webdataset
from .datasets import CaseSpec, Dataset, decide_binary, name_collisions
from .executors import CaseResult, Options, plan_by_memory, run_dask, run_local
from .headers import available_memory
from .metadata import write_metadata
from .output import write_json
from .progress import Progress
from .state import (
    SUMMARY_JSON,
    clear_failure,
    clear_output,
    completed_keys,
    count_unlabelled,
    is_empty,
    load_failures,
    load_run_settings,
    load_records,
    remove_partial_files,
    save_failure,
    save_run_settings,
    save_unlabelled,
    summarise,
    write_failures,
)


class RunError(Exception):
    """A problem with OUT or the run's set-up (not with a case); the command exits with 2."""


@dataclass(frozen=True)
class Shard:
    """This process converts the cases whose key hashes to ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    def owns(self, key: str) -> bool:
        return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % self.count == self.index

    @classmethod
    def from_slurm(cls, count: Optional[int], index: Optional[int]) -> "Shard":
        """--num-shards/--shard-index, defaulting to a Slurm array's task count and offset."""
        env = os.environ
        if count is None and "SLURM_ARRAY_TASK_COUNT" in env:
            count = int(env["SLURM_ARRAY_TASK_COUNT"])
        if index is None and "SLURM_ARRAY_TASK_ID" in env:
            index = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = 1 if count is None else count
        index = 0 if index is None else index
        if count < 1 or not 0 <= index < count:
            raise RunError(f"shard index {index} is not within 0..{count - 1}")
        return cls(index, count)


@dataclass(frozen=True)
class OutputFormat:
    """Loose PNG files (the release layout), or WebDataset tar shards of about ``shard_size`` bytes."""

    kind: str = "files"
    shard_size: int = 10**9


@dataclass(frozen=True)
class Engine:
    """Where cases run: the local process pool, or a Dask cluster."""

    workers: int = 1
    executor: str = "local"          # "local" or "dask"
    scheduler: Optional[str] = None  # a Dask scheduler address; None starts a LocalCluster


def prepare_out(out: Path, *, resume: bool, overwrite: bool, shared: bool) -> None:
    """Checks OUT (refusing a non-empty one unless resuming) and removes stray temporary files.

    ``shared``: other shards may be writing here at the same time, so OUT may be
    non-empty and their temporary files are left alone (merge removes them).
    """
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder")
    if not is_empty(out) and not shared:
        if overwrite:
            clear_output(out)
        elif not resume:
            raise RunError(f"{out} is not empty: add --resume to go on with the run there, "
                           f"or --overwrite to replace it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    if not shared:
        remove_partial_files(out)


def convert(datasets: List[Dataset], out: Path, options: Options, *, engine: Engine = Engine(),
            shard: Shard = Shard(), resume: bool = False, overwrite: bool = False, fail_fast: bool = False,
            progress: bool = True, test_fraction: float = 0.2, output: OutputFormat = OutputFormat(),
            failures: Optional[Dict[str, str]] = None) -> int:
    """Converts the data sets into OUT and, unless sharded, writes the metadata. Returns the exit status.

    ``failures`` carries what failed before any case ran (unreadable data sets).
    """
    start = time.perf_counter()
    out = Path(out).absolute()
    sharded = shard.count > 1
    prepare_out(out, resume=resume, overwrite=overwrite, shared=sharded)
    save_run_settings(out, output.kind, output.shard_size, test_fraction)
    for key in load_failures(out):  # every case without a record is tried again now
        if shard.owns(key):
            clear_failure(out, key)
    failed_now: Dict[str, str] = dict(failures or {})
    for ds in datasets:
        save_unlabelled(out, ds.source, ds.unlabelled)
    specs = [spec for ds in datasets for spec in ds.cases if shard.owns(spec.key)]
    for key, group in name_collisions(specs, webdataset_keys=output.kind == "webdataset").items():
        failed_now[key] = f"{' and '.join(s.images[0] for s in group)}: case names collide as {key!r}"
    done = completed_keys(out)
    todo = [s for s in specs if s.key not in failed_now and s.key not in done]
    for ds in datasets:
        decide_binary(ds)
    bar = Progress(total=len(todo), enabled=progress)
    for result in _run(todo, out, options, engine, fail_fast, failed_now):
        if result.error:
            failed_now[result.key] = result.error
            bar.write(f"FAILED {result.error}")
        bar.update(result.record)
    bar.close()
    for key, error in failed_now.items():
        save_failure(out, key, error)
    seconds = time.perf_counter() - start
    if sharded:
        print(f"shard {shard.index} of {shard.count}: {bar.images} images, {bar.masks} masks from "
              f"{len(todo)} cases ({len(done)} done before), {len(failed_now)} failed, {seconds:.1f} s. "
              f"Run 'samed2d merge {out}' when every shard is done.")
        for line in sorted(failed_now.values()):
            print(f"  FAILED {line}")
        return 1 if failed_now else 0
    summary, all_failures = finish(out)
    print_summary(summary, all_failures, out, seconds, kept=len(done))
    return 1 if all_failures else 0


def _run(todo: List[CaseSpec], out: Path, options: Options, engine: Engine, fail_fast: bool,
         failed: Dict[str, str]) -> Iterator[CaseResult]:
    """Runs the cases on the engine; locally, a case too big for a worker's share of
    memory runs alone after the others, and one too big for the machine fails."""
    stop = (lambda r: r.error is not None) if fail_fast else (lambda r: False)
    if fail_fast and failed:
        return
    if engine.executor == "dask":
        yield from run_dask(todo, out, options, engine.workers, engine.scheduler, stop=stop)
        return
    plan = plan_by_memory(todo, engine.workers, available_memory(), options.max_voxels)
    for key, error in plan.too_big.items():
        yield CaseResult(key, None, error, 0.0)
        if fail_fast:
            return
    for batch, workers in ((plan.shared, engine.workers), (plan.alone, 1)):
        for result in run_local(batch, out, options, workers, stop=stop):
            yield result
            if stop(result):
                return


def finish(out: Path, test_fraction: Optional[float] = None):
    """Metadata, summary.json and failures.json from OUT's state alone (end of a run, or merge).

    ``test_fraction`` defaults to the one the run was started with.
    """
    settings = load_run_settings(out)
    if test_fraction is None:
        test_fraction = settings["test_fraction"]
    remove_partial_files(out)
    before = load_records(out)
    records = write_metadata(out, before, test_fraction=test_fraction)
    if settings["format"] == "webdataset":
        try:
            shards = webdataset.pack(out, records, settings["shard_size"])
        except ValueError as exc:
            raise RunError(str(exc)) from None
        print(f"packed {sum(len(r.images) for r in records)} samples into {shards} WebDataset shard(s) "
              f"in {out / webdataset.FOLDER}")
    pending = {(r.dataset, n) for r in before for n, f in {**r.declared, **r.classes}.items() if f.startswith("u")}
    new_ids = {f"{r.dataset}/{n}": f for r in records for n, f in {**r.declared, **r.classes}.items()
               if (r.dataset, n) in pending}
    for name in sorted(new_ids):
        print(f"new class id {new_ids[name]}: {name}")
    failures = load_failures(out)
    summary = summarise(records)
    summary["failed"] = len(failures)
    summary["skipped_unlabelled"] = count_unlabelled(out)
    write_json(out / SUMMARY_JSON, summary)
    write_failures(out, failures)
    return summary, failures


def merge(out: Path, test_fraction: Optional[float] = None) -> int:
    """``samed2d merge``: joins the shards of a run in OUT into the final files."""
    out = Path(out).absolute()
    if not (out / ".samed2d" / "records").is_dir():
        raise RunError(f"{out}: no converted cases to merge (no .samed2d/records)")
    start = time.perf_counter()
    summary, failures = finish(out, test_fraction)
    print_summary(summary, failures, out, time.perf_counter() - start, kept=summary["cases"])
    return 1 if failures else 0


def print_summary(summary: dict, failures: Dict[str, str], out: Path, seconds: float, kept: int) -> None:
    lines = [f"\n{summary['cases']} cases, {summary['images']} images, {summary['masks']} masks in {out}"
             f"  ({seconds:.1f} s{f', {kept} cases converted before' if kept else ''})"]
    lines.append(f"\n{'modality':<20}{'images':>10}{'masks':>10}")
    for modality, row in sorted(summary["per_modality"].items()):
        lines.append(f"{modality:<20}{row['images']:>10}{row['masks']:>10}")
    classes = sorted(summary["per_class"].items(), key=lambda kv: (-kv[1], kv[0]))
    if classes:
        lines.append(f"\n{'class (top 15 by masks)':<50}{'masks':>10}")
        lines += [f"{name:<50}{count:>10}" for name, count in classes[:15]]
        if len(classes) > 15:
            lines.append(f"... and {len(classes) - 15} more classes (see summary.json)")
    if summary["skipped_unlabelled"]:
        lines.append(f"\n{summary['skipped_unlabelled']} image files without a label were skipped")
    if failures:
        lines.append(f"\n{len(failures)} case(s) FAILED (also in {out / 'failures.json'}):")
        lines += [f"  {failures[k]}" for k in sorted(failures)]
    print("\n".join(lines))
