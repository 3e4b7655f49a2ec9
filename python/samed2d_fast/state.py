"""The run's state inside OUT, which makes a run resumable.

A case is complete exactly when its record file exists: the record is written
(atomically) only after every image and mask of the case is in place. A
resumed run converts the cases without a record again; since a case always
writes the same names and bytes, what a killed run left behind is simply
overwritten, and stray temporary files are removed first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict, Iterable, List

from .naming import parse_image_path, parse_mask_path
from .metadata import CLASS_MAPPING_JSON, RELEASE_JSON, TEST_JSON, TRAIN_JSON
from .output import write_json
from .record import STATE_DIR, CaseRecord

SUMMARY_JSON = "summary.json"
FAILURES_JSON = "failures.json"
OUTPUT_ENTRIES = ("images", "masks", STATE_DIR, RELEASE_JSON, CLASS_MAPPING_JSON, TRAIN_JSON, TEST_JSON,
                  SUMMARY_JSON, FAILURES_JSON)


def records_dir(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / "records"


def record_path(out_dir: Path, key: str) -> Path:
    return records_dir(out_dir) / f"{key}.json"


def save_record(out_dir: Path, key: str, record: CaseRecord) -> None:
    path = record_path(out_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record.to_json())


def completed_keys(out_dir: Path) -> set:
    folder = records_dir(out_dir)
    return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()


def load_records(out_dir: Path) -> List[CaseRecord]:
    folder = records_dir(out_dir)
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [CaseRecord.from_json(json.loads(p.read_text(encoding="utf-8"))) for p in paths]


def remove_partial_files(out_dir: Path) -> None:
    """Temporary files of writes a killed run never finished."""
    for sub in ("images", "masks", ".", *(f"{STATE_DIR}/{kind}" for kind in ("records", "failed", "unlabelled"))):
        folder = Path(out_dir) / sub
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def is_empty(out_dir: Path) -> bool:
    return not Path(out_dir).exists() or not any(Path(out_dir).iterdir())


def clear_output(out_dir: Path) -> None:
    """--overwrite: removes what an earlier run wrote (and nothing else)."""
    for name in OUTPUT_ENTRIES:
        path = Path(out_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


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
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")] if folder.is_dir() else []
    return {e["case"]: e["error"] for e in entries}


def save_unlabelled(out_dir: Path, source: str, unlabelled: List[str]) -> None:
    """The images of a data set that have no label (written by every shard alike)."""
    path = _state_file(out_dir, "unlabelled", source)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"source": source, "images": sorted(unlabelled)})


def count_unlabelled(out_dir: Path) -> int:
    folder = Path(out_dir) / STATE_DIR / "unlabelled"
    paths = folder.glob("*.json") if folder.is_dir() else []
    return sum(len(json.loads(p.read_text(encoding="utf-8"))["images"]) for p in paths)


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


def save_run_settings(out_dir: Path, fmt: str, shard_size: int, test_fraction: float) -> None:
    """What the end of the run needs to know, for a later merge of shards too."""
    path = Path(out_dir) / STATE_DIR / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"format": fmt, "shard_size": shard_size, "test_fraction": test_fraction})


def load_run_settings(out_dir: Path) -> dict:
    path = Path(out_dir) / STATE_DIR / "settings.json"
    settings = {"format": "files", "shard_size": 0, "test_fraction": 0.2}
    if path.exists():
        settings.update(json.loads(path.read_text(encoding="utf-8")))
    return settings
