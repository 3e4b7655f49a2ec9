"""A conversion run: cases -> files and records -> metadata -> summary.

Used by ``samed2d convert``, ``demo`` and ``merge``. A run first makes OUT the
tool's (ownership.py), takes its lock (lock.py) and fixes or compares its
settings (settings.py). Everything a run decides is kept in OUT's state
(records, failures, the plan, what sources skipped), so a resumed run, a Dask
run and merged shards all end with the bytes of one plain run.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from . import ownership, webdataset
from .datasets import Dataset, decide_binary, name_collisions
from .executors import CaseResult, plan_by_memory, run_dask, run_local
from .headers import available_memory
from .inputs import CaseSpec
from .lock import WHOLE, LockError, OutLock
from .metadata import (
    TEST_JSON,
    TRAIN_JSON,
    is_test_case,
    mask_names_in_force,
    new_class_ids,
    write_metadata,
    write_split_files,
)
from .naming import clean_field
from .options import Options
from .output import write_json
from .printable import printable
from .progress import Progress
from .record import CaseRecord
from .settings import (
    SettingsError,
    check_datasets,
    dataset_settings,
    fix_datasets,
    fix_settings,
    load_settings,
    output_settings,
)
from .state import (
    SUMMARY_JSON,
    StateError,
    clear_failure,
    load_failures,
    load_plan,
    load_records,
    load_source_reports,
    record_path,
    save_failure,
    save_plan,
    save_source_report,
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


def resolve_out(out) -> Path:
    """OUT resolved once: it may itself be a symbolic link (HPC scratch paths often are)."""
    return Path(os.path.realpath(os.fspath(out)))


def _source_roots(ds: Dataset) -> List[str]:
    if ds.layout != "glob":
        return [os.path.realpath(ds.source)]
    return sorted({os.path.dirname(os.path.realpath(p)) for spec in ds.cases for p in spec.sources})


def check_out_outside_sources(out: Path, datasets: List[Dataset]) -> None:
    """OUT must not be, contain, or sit inside a source folder."""
    for ds in datasets:
        for root in _source_roots(ds):
            relation = ("is" if str(out) == root else "sits inside" if _under(str(out), root)
                        else "contains" if _under(root, str(out)) else None)
            if relation:
                raise RunError(f"{out} {relation} the source folder {root}: choose an output folder "
                               f"outside every source")


def _under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder and path != folder


def _lock(out: Path, name: str, command: str) -> OutLock:
    return OutLock(ownership.state_dir(out) / "locks", name, command)


def _claim(out: Path) -> str:
    try:
        return ownership.claim(out)
    except OSError as exc:
        raise RunError(f"{exc.filename or out}: cannot create the output ({exc.strerror or exc})") from None


def _has_output(out: Path) -> bool:
    """Whether an owned OUT holds anything of a run (more than its marker)."""
    state = ownership.state_dir(out)
    entries = [e for e in os.listdir(state) if e not in (ownership.MARKER, "locks")] if state.is_dir() else []
    return bool(entries) or any((out / n).exists() for n in (*ownership.TOP_LEVEL_FILES, *ownership.FILE_FOLDERS,
                                                             ownership.WEBDATASET_FOLDER))


def prepare_out(out: Path, *, resume: bool, overwrite: bool, shard: Shard) -> None:
    """Under the lock: finishes an interrupted clearing or packing, clears for --overwrite,
    and refuses an earlier run's output without --resume."""
    if ownership.is_clearing(out):
        if shard.count > 1:
            raise RunError(f"{out}: an interrupted --overwrite left this output half cleared; run a convert "
                           f"without shards on it first")
        ownership.finish_clearing(out)
    elif _has_output(out):
        if overwrite:
            ownership.clear(out, load_records(out))
        elif not resume and shard.count == 1:
            raise RunError(f"{out} holds the output of an earlier samed2d run: add --resume to go on with it, "
                           f"or choose a new folder for this one")
    webdataset.recover(out)


def repair(out: Path, owns) -> Tuple[List[str], List[CaseRecord]]:
    """Makes the state true before cases run: a record whose files are missing (removed by
    hand, or an output damaged otherwise) is removed, and the files of every case of this
    run that started but has no record (killed half-way) go. Returns the removed records'
    keys and the records that stay."""
    records = load_records(out)
    present = {sub: set(os.listdir(out / sub)) if (out / sub).is_dir() else set() for sub in ("images", "masks")}
    packed = webdataset.packed_keys(out)
    renames = mask_names_in_force(out)
    broken = [r.split_key for r in records if owns(r.split_key) and not _complete(r, present, packed, renames)]
    for key in broken:
        record_path(out, key).unlink()
    done = {r.split_key for r in records} - set(broken)
    started = ownership.load_started(out)
    partial = {p for key, prefixes in started.items() if owns(key) and key not in done for p in prefixes}
    ownership.remove_case_files(out, partial)
    for rec in records:  # a finished case's started entry, removed by hand: its record has its prefixes
        if rec.split_key in done and rec.split_key not in started and rec.prefixes and owns(rec.split_key):
            ownership.save_started(out, rec.split_key, rec.prefixes)
    return broken, [r for r in records if r.split_key in done]


def _complete(rec, present, packed, renames) -> bool:
    for image, masks in rec.images.items():
        if webdataset.sample_key(image) in packed:
            continue
        if image[len("images/"):] not in present["images"]:
            return False
        for mask in masks:
            names = {mask, renames(rec.dataset, mask)}
            if not any(n[len("masks/"):] in present["masks"] for n in names):
                return False
    return True


def convert(datasets: List[Dataset], out: Path, options: Options, *, engine: Engine = Engine(),
            shard: Shard = Shard(), resume: bool = False, overwrite: bool = False, fail_fast: bool = False,
            progress: bool = True, test_fraction: float = 0.2, output: OutputFormat = OutputFormat(),
            failures: Optional[Dict[str, str]] = None) -> int:
    """Converts the data sets into OUT and, unless sharded, writes the metadata. Returns the exit status.

    ``failures`` carries what failed before any case ran (unreadable data sets).
    """
    start = time.perf_counter()
    out = resolve_out(out)
    if overwrite and shard.count > 1:
        raise RunError("--overwrite clears the whole OUT and cannot be used by one shard: clear it with one "
                       "convert without shards, or use a new OUT")
    check_out_outside_sources(out, datasets)
    # A data set's tags: those its layout declares (a recipe's, whichever cases are present),
    # else its first case's.
    entries = [dataset_settings(clean_field(ds.name), os.path.realpath(ds.source),
                                ds.modality_tags or (list(ds.cases[0].modality) if ds.cases else []),
                                ds.class_names, ds.recipe) for ds in datasets]
    try:
        check_datasets(entries)
        _claim(out)
        name = WHOLE if shard.count == 1 else f"shard-{shard.index:04d}"
        with _lock(out, name, "convert"):
            return _convert_locked(datasets, out, options, entries, engine, shard, resume, overwrite, fail_fast,
                                   progress, test_fraction, output, dict(failures or {}), start)
    except (ownership.OwnershipError, LockError, SettingsError, StateError) as exc:
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(_os_error(exc, out)) from None


def _os_error(exc: OSError, out: Path) -> str:
    return f"{exc.filename or out}: {exc.strerror or exc}"


def _convert_locked(datasets, out, options, entries, engine, shard, resume, overwrite, fail_fast, progress,
                    test_fraction, output, failed_now, start) -> int:
    prepare_out(out, resume=resume, overwrite=overwrite, shard=shard)
    note = fix_settings(out, output_settings(options, output.kind, output.shard_size, shard.count),
                        test_fraction, "run")
    if note:
        print(note)
    fix_datasets(out, entries, load_plan(out))
    broken, kept = repair(out, shard.owns)
    if broken:
        print(f"{len(broken)} case(s) recorded before have files missing and are converted again")
    for key in load_failures(out):  # every case without a record is tried again now
        if shard.owns(key):
            clear_failure(out, key)
    reported = set(failed_now)  # the SRCs that could not be read: printed already
    for ds in datasets:  # keyed by the real path: a resume may spell a source otherwise
        save_plan(out, os.path.realpath(ds.source), [spec.key for spec in ds.cases])
        save_source_report(out, os.path.realpath(ds.source), ds.unlabelled, ds.skipped, ds.warnings)
        failed_now.update({key: error for key, error in ds.failed.items() if shard.owns(key)})
    specs = [spec for ds in datasets for spec in ds.cases if shard.owns(spec.key) and spec.key not in failed_now]
    for key, group in name_collisions(specs, webdataset_keys=output.kind == "webdataset").items():
        failed_now[key] = f"{' and '.join(s.images[0] for s in group)}: case names collide as {key!r}"
    records = {r.split_key: r for r in kept}
    for spec in specs:
        other = records.get(spec.key)
        if other is not None and _realpaths(other.sources) != _realpaths(spec.sources):
            failed_now[spec.key] = (f"{spec.images[0]}: case name {spec.key!r} is taken in OUT by "
                                    f"{other.sources[0]}; give this source another data set name with --dataset")
    todo = [s for s in specs if s.key not in failed_now and s.key not in records]
    done = [s for s in specs if s.key not in failed_now and s.key in records]
    for ds in datasets:
        decide_binary(ds)
    bar = Progress(total=len(todo), enabled=progress)
    for key, error in failed_now.items():  # cases that fail before they run
        if key not in reported:
            bar.write(f"FAILED {printable(error)}")
    for result in _run(todo, out, options, engine, fail_fast, failed_now):
        if result.error:
            failed_now[result.key] = result.error
            bar.write(f"FAILED {printable(result.error)}")
        bar.update(result.record)
    bar.close()
    for key, error in failed_now.items():
        save_failure(out, key, error)
    seconds = time.perf_counter() - start
    if shard.count > 1:
        print(f"shard {shard.index} of {shard.count}: {bar.images} images, {bar.masks} masks from "
              f"{len(todo)} cases ({len(done)} done before), {len(failed_now)} failed, {seconds:.1f} s. "
              f"Run 'samed2d merge {out}' when every shard is done.")
        for line in sorted(failed_now.values()):
            print(f"  FAILED {printable(line)}")
        return 1 if failed_now else 0
    summary, all_failures = finish(out)
    print_summary(summary, all_failures, out, seconds, kept=len(done))
    return 1 if all_failures else 0


def _realpaths(paths) -> List[str]:
    return [os.path.realpath(p) for p in paths]


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
    plan = plan_by_memory(todo, engine.workers, available_memory(), options.max_voxels,
                          scaled=options.normalization == "slice")
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
    settings = load_settings(out)
    if test_fraction is None:
        test_fraction = settings["test_fraction"]
    ownership.remove_temporary_files(out)
    before = load_records(out)
    records = write_metadata(out, before, test_fraction=test_fraction)
    if settings["format"] == "webdataset":
        shard_of = webdataset.pack(out, records, settings["shard_size"])
        write_split_files(out, records, test_fraction, locate=webdataset.member_locator(shard_of))
        print(f"packed {len(shard_of)} samples into {len(set(shard_of.values()))} WebDataset shard(s) "
              f"in {out / webdataset.FOLDER}")
    new_ids = new_class_ids(before)
    for name in sorted(new_ids):
        print(f"new class id {new_ids[name]}: {printable(name)}")
    failures = load_failures(out)
    summary = summarise(records)
    summary["failed"] = len(failures)
    reports = load_source_reports(out)
    summary["skipped_unlabelled"] = sum(len(r["unlabelled"]) for r in reports)
    skipped: Dict[str, int] = {}
    for report in reports:
        for reason, files in report["skipped"].items():
            if files:
                skipped[reason] = skipped.get(reason, 0) + len(files)
    summary["skipped"] = skipped
    summary["warnings"] = [w for r in reports for w in r["warnings"]] + split_warnings(records, test_fraction)
    missing = missing_cases(out, failures, records)
    if missing:
        summary["missing"] = missing
    write_json(out / SUMMARY_JSON, summary)
    write_failures(out, failures)
    return summary, failures


def split_warnings(records, test_fraction: float) -> List[str]:
    """A data set whose test part is empty, or holds every case: SAM-Med2D's test.py
    divides by zero on an empty one, and a model trained on nothing of it learns nothing."""
    cases: Dict[str, List[bool]] = {}
    for rec in records:
        if rec.n_masks:
            cases.setdefault(rec.dataset, []).append(is_test_case(rec.split_key, test_fraction))
    warnings = []
    for dataset, in_test in sorted(cases.items()):
        if not any(in_test):
            warnings.append(f"data set {dataset}: the test part ({TEST_JSON}) is empty: none of its "
                            f"{len(in_test)} case(s) falls in --test-fraction {test_fraction}")
        elif all(in_test):
            warnings.append(f"data set {dataset}: the test part ({TEST_JSON}) holds all of its "
                            f"{len(in_test)} case(s); the training part ({TRAIN_JSON}) has none")
    return warnings


def missing_cases(out: Path, failures: Dict[str, str], records) -> List[str]:
    """Cases of the plan (every case of every source a run started with) with neither a
    record nor a failure: shards that did not run or did not finish, or --fail-fast."""
    done = {r.split_key for r in records} | set(failures)
    return sorted(key for key in load_plan(out) if key not in done)


def merge(out: Path, test_fraction: Optional[float] = None, partial: bool = False) -> int:
    """``samed2d merge``: joins the shards of a run in OUT into the final files."""
    start = time.perf_counter()
    out = resolve_out(out)
    if ownership.status(out) not in ("owned", "adoptable"):
        raise RunError(f"{out}: no converted cases to merge (it holds no samed2d output)")
    try:
        ownership.refuse_symlinks(out)
        with _lock(out, WHOLE, "merge"):
            if ownership.is_clearing(out):
                raise RunError(f"{out}: an interrupted --overwrite left this output half cleared; "
                               f"run a convert without shards on it")
            webdataset.recover(out)
            broken, kept = repair(out, lambda key: True)
            missing = missing_cases(out, load_failures(out), kept)
            if missing and not partial:
                raise RunError(_missing_message(out, missing, broken))
            summary, failures = finish(out, test_fraction)
    except (ownership.OwnershipError, LockError, SettingsError, StateError) as exc:
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(_os_error(exc, out)) from None
    print_summary(summary, failures, out, time.perf_counter() - start, kept=summary["cases"])
    return 1 if failures or missing else 0


def _missing_message(out: Path, missing: List[str], broken: List[str]) -> str:
    count = int(load_settings(out).get("num_shards", 1))
    by_shard: Dict[int, List[str]] = {}
    for key in missing:
        index = next(i for i in range(count) if Shard(i, count).owns(key))
        by_shard.setdefault(index, []).append(key)
    parts = [f"shard {i} of {count} ({len(keys)}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
             for i, keys in sorted(by_shard.items())]
    damaged = f" ({len(broken)} of them recorded before but with files missing)" if broken else ""
    return (f"{out}: {len(missing)} case(s) have neither a record nor a failure{damaged}: {'; '.join(parts)}. "
            f"Run those shards to the end (with --resume), or merge with --partial to write what is there")


def print_summary(summary: dict, failures: Dict[str, str], out: Path, seconds: float, kept: int) -> None:
    lines = [f"\n{summary['cases']} cases, {summary['images']} images, {summary['masks']} masks in {printable(str(out))}"
             f"  ({seconds:.1f} s{f', {kept} cases converted before' if kept else ''})"]
    lines.append(f"\n{'modality':<20}{'images':>10}{'masks':>10}")
    for modality, row in sorted(summary["per_modality"].items()):
        lines.append(f"{modality:<20}{row['images']:>10}{row['masks']:>10}")
    classes = sorted(summary["per_class"].items(), key=lambda kv: (-kv[1], kv[0]))
    if classes:
        lines.append(f"\n{'class (top 15 by masks)':<50}{'masks':>10}")
        lines += [f"{printable(name):<50}{count:>10}" for name, count in classes[:15]]
        if len(classes) > 15:
            lines.append(f"... and {len(classes) - 15} more classes (see summary.json)")
    if summary["skipped_unlabelled"]:
        lines.append(f"\n{summary['skipped_unlabelled']} image files without a label were skipped")
    for reason, count in sorted(summary["skipped"].items()):
        lines.append(f"{count} file(s) skipped: {reason}")
    for warning in summary["warnings"]:
        lines.append(f"WARNING {printable(warning)}")
    if summary.get("missing"):
        lines.append(f"\n{len(summary['missing'])} case(s) MISSING (neither converted nor failed): "
                     f"{', '.join(summary['missing'][:10])}{' ...' if len(summary['missing']) > 10 else ''}")
    if failures:
        lines.append(f"\n{len(failures)} case(s) FAILED (also in {printable(str(out / 'failures.json'))}):")
        lines += [f"  {printable(failures[k])}" for k in sorted(failures)]
    print("\n".join(lines))
