"""The run's state inside OUT, which makes a run resumable and a merge complete.

A case is complete exactly when its record file exists and every file it names
is in place: the record is written (atomically) only after every image and mask
of the case. A resumed run converts the cases without a valid record again.
Besides the records, the state keeps what failed, what each source skipped, and
the plan (every case of every source), so that a merge knows what is missing.
Everything read back from here is checked, since OUT may be writable by others.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Iterable, List

from .naming import parse_image_path, parse_mask_path
from .output import write_json
from .record import STATE_DIR, CaseRecord

SUMMARY_JSON = "summary.json"
FAILURES_JSON = "failures.json"


class StateError(ValueError):
    """A file the tool keeps in OUT (the run state, or a JSON file a run wrote) is broken or
    was tampered with; the message, one line, names it."""


def records_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / "records"


def record_path(out_dir: Path, key: str) -> Path:
    return records_dir(out_dir) / f"{key}.json"


def save_record(out_dir: Path, key: str, record: CaseRecord) -> None:
    path = record_path(out_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record.to_json())


def load_records(out_dir: Path) -> List[CaseRecord]:
    """Every record, each checked: its names are its own case's, inside OUT."""
    folder = records_dir(out_dir)
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = CaseRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            if record.split_key != path.stem:
                raise ValueError(f"it holds case {record.split_key}")
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: not a valid record of this output ({exc})") from None
        records.append(record)
    return records


def _state_file(out_dir: Path, kind: str, key: str) -> Path:
    # Keys may be source paths; a digest makes any key a safe file name.
    return Path(out_dir) / STATE_DIR / kind / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()[:20]}.json"


def save_failure(out_dir: Path, key: str, error: str) -> None:
    """Records a failed case (or data set) in the run state; a later success clears it."""
    path = _state_file(out_dir, "failed", key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"case": key, "error": error})


def clear_failure(out_dir: Path, key: str) -> None:
    _state_file(out_dir, "failed", key).unlink(missing_ok=True)


def load_failures(out_dir: Path) -> Dict[str, str]:
    folder = Path(out_dir) / STATE_DIR / "failed"
    entries = [read_json(p, "the run state") for p in folder.glob("*.json")] if folder.is_dir() else []
    return {e["case"]: e["error"] for e in entries}


def save_source_report(out_dir: Path, source: str, unlabelled: List[str], skipped: Dict[str, List[str]],
                       warnings: List[str]) -> None:
    """What a source's folder held besides its cases: images without a label, files
    skipped (by reason) and warnings (written by every shard alike)."""
    path = _state_file(out_dir, "sources", source)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"source": source, "unlabelled": sorted(unlabelled),
                      "skipped": {reason: sorted(files) for reason, files in skipped.items()},
                      "warnings": list(warnings)})


def load_source_reports(out_dir: Path) -> List[dict]:
    folder = Path(out_dir) / STATE_DIR / "sources"
    return [read_json(p, "the run state") for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def save_plan(out_dir: Path, source: str, keys: Iterable[str]) -> None:
    """Every case of a source, before shard filtering: merge checks that each has a record or a failure."""
    path = _state_file(out_dir, "plan", source)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"source": source, "cases": sorted(keys)})


def load_plan(out_dir: Path) -> Dict[str, str]:
    """Case key -> its source, for every case of every source a run was started with."""
    folder = Path(out_dir) / STATE_DIR / "plan"
    plan: Dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        entry = read_json(path, "the run state")
        plan.update({str(key): str(entry["source"]) for key in entry["cases"]})
    return plan


def read_json(path: Path, what: str = ""):
    """The JSON file at ``path``, parsed; StateError naming the file (and ``what`` it holds)
    when it is missing or broken. Reads the run state here, and the files a run writes
    for output_folder.py."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: cannot read{f' {what}' if what else ''} ({exc})") from None


def write_failures(out_dir: Path, failures: Dict[str, str]) -> None:
    """failures.json, present exactly when something failed."""
    path = Path(out_dir) / FAILURES_JSON
    if failures:
        write_json(path, [{"case": k, "error": failures[k]} for k in sorted(failures)])
    else:
        path.unlink(missing_ok=True)


def summarise(records: Iterable[CaseRecord]) -> dict:
    """Counts for summary.json and the printed table (the paper's Table 1, per class too)."""
    per_modality: Dict[str, Dict[str, int]] = {}
    per_class: Dict[str, int] = {}
    cases = 0
    for rec in records:
        cases += 1
        names = {field: name for name, field in rec.classes.items()}
        for image, masks in rec.images.items():
            row = per_modality.setdefault(parse_image_path(image).modality, {"images": 0, "masks": 0})
            row["images"] += 1
            row["masks"] += len(masks)
            for mask in masks:
                field = parse_mask_path(mask).class_field
                key = f"{rec.dataset}/{names.get(field, field)}"
                per_class[key] = per_class.get(key, 0) + 1
    return {
        "cases": cases,
        "images": sum(r["images"] for r in per_modality.values()),
        "masks": sum(r["masks"] for r in per_modality.values()),
        "per_modality": per_modality,
        "per_class": per_class,
    }
