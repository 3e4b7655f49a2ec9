"""Records -> the release's JSON files and the SAM-Med2D split files (SPEC sections 5-6).

This is also where classes whose id was unknown while cases were converted
(union classes, classes missing from a given mapping) get their final ids and
their files are renamed. Everything here depends only on the set of records,
so one run, a resumed run and merged parts end with the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Set

from .naming import format_class_id, mask_sort_key, parse_mask_path
from .output import write_json
from .record import STATE_DIR, CaseRecord
from .state import StateError

RELEASE_JSON = "SAMed2D_v1.json"
CLASS_MAPPING_JSON = "SAMed2D_v1_class_mapping_id.json"
TRAIN_JSON = "image2label_train.json"
TEST_JSON = "label2image_test.json"


def is_test_case(split_key: str, test_fraction: float) -> bool:
    """SPEC section 6: the case is in the test part when its hash falls below the fraction."""
    digest = hashlib.sha1(split_key.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 2**32 < test_fraction


def _sole_unknown_datasets(records: Iterable[CaseRecord]) -> Set[str]:
    """The data sets in which exactly one label value was called unknown (SPEC section 7):
    there it is plain ``unknown``, and each class takes its ``sole_unknown`` name."""
    values: Dict[str, Set[int]] = defaultdict(set)
    for rec in records:
        values[rec.dataset].update(rec.unnamed)
    return {dataset for dataset, found in values.items() if len(found) == 1}


def _final_names(rec: CaseRecord, sole_unknown: Set[str]) -> Dict[str, str]:
    """The record's emitted classes (name -> field) under their final names."""
    if rec.dataset not in sole_unknown:
        return rec.classes
    return {rec.sole_unknown.get(name, name): field for name, field in rec.classes.items()}


def final_class_ids(records: Iterable[CaseRecord]) -> Dict[str, Dict[str, str]]:
    """Per data set: pending class field -> final id. A class whose final name the data set
    declares with an id takes it (a class map's ``unknown``, SPEC section 7); the others get
    the ids after the largest known one, in sorted class-name order."""
    records = list(records)
    sole_unknown = _sole_unknown_datasets(records)
    largest: Dict[str, int] = defaultdict(int)  # 0 is background: ids start at 1
    pending: Dict[str, Dict[str, str]] = defaultdict(dict)  # dataset -> name -> pending field
    known: Dict[str, Dict[str, str]] = defaultdict(dict)    # dataset -> declared name -> id
    for rec in records:
        largest[rec.dataset] = max(largest[rec.dataset], rec.declared_max_id)
        known[rec.dataset].update((n, f) for n, f in rec.declared.items() if not f.startswith("u"))
        for name, field in {**rec.declared, **_final_names(rec, sole_unknown)}.items():
            if field.startswith("u"):
                pending[rec.dataset][name] = field
            else:
                largest[rec.dataset] = max(largest[rec.dataset], int(field))
    out = {}
    for dataset, names in pending.items():
        start = largest[dataset] + 1
        new = sorted(n for n in names if n not in known[dataset])
        out[dataset] = {names[n]: known[dataset][n] for n in names if n in known[dataset]}
        out[dataset].update({names[name]: format_class_id(start + i) for i, name in enumerate(new)})
    return out


def new_class_ids(records: Iterable[CaseRecord]) -> Dict[str, str]:
    """``{data set}/{class name}`` -> id of each class whose id was handed out when the
    metadata was written (not declared): what a run prints for the user to see."""
    records = list(records)
    assigned = final_class_ids(records)
    sole_unknown = _sole_unknown_datasets(records)
    out = {}
    for rec in records:
        known = {f for f in rec.declared.values() if not f.startswith("u")}
        for name, field in {**rec.declared, **_final_names(rec, sole_unknown)}.items():
            given = assigned.get(rec.dataset, {}).get(field)
            if given is not None and given not in known:
                out[f"{rec.dataset}/{name}"] = given
    return out


def _renamed(path: str, renames: Dict[str, str]) -> str:
    name = parse_mask_path(path)
    if name.class_field not in renames:
        return path
    return f"masks/{name.image_stem}--{renames[name.class_field]}_{name.instance:03d}.png"


def _move_masks(out_dir: Path, records: List[CaseRecord], source: Dict[str, Dict[str, str]],
                target: Dict[str, Dict[str, str]]) -> None:
    """Moves the files of pending classes from their names under one assignment
    (pending field -> id, per data set; {} means the pending names) to another.
    A file already moved, or never written, is left alone."""
    for rec in records:
        for masks in rec.images.values():
            for mask in masks:
                old = _renamed(mask, source.get(rec.dataset, {}))
                new = _renamed(mask, target.get(rec.dataset, {}))
                if old != new and (out_dir / old).exists():
                    os.replace(out_dir / old, out_dir / new)


def mask_names_in_force(out_dir) -> Callable[[str, str], str]:
    """(data set, recorded mask name) -> the name its file has under the id assignment
    in force (the recorded name itself for classes whose id was known)."""
    ids = _ids_in_force(Path(out_dir))
    return lambda dataset, mask: _renamed(mask, ids.get(dataset, {}))


_PENDING_FIELD = re.compile(r"^u[0-9a-f]{8}$")
_ID_FIELD = re.compile(r"^[0-9]{4,}$")


def _class_ids_path(out_dir: Path) -> Path:
    return out_dir / STATE_DIR / "class_ids.json"


def _ids_in_force(out_dir: Path) -> Dict[str, Dict[str, str]]:
    """The kept assignment, checked: its values become file names."""
    path = _class_ids_path(out_dir)
    if not path.exists():
        return {}
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(ids, dict) or not all(
                isinstance(v, dict) and all(isinstance(p, str) and isinstance(i, str) and _PENDING_FIELD.match(p)
                                            and _ID_FIELD.match(i) for p, i in v.items()) for v in ids.values()):
            raise ValueError("expected {data set: {pending field: class id}}")
    except ValueError as exc:
        raise StateError(f"{path}: not a valid class id assignment ({exc})") from None
    return ids


def assign_final_ids(out_dir, records: List[CaseRecord]) -> List[CaseRecord]:
    """Gives pending classes their ids, renames their files, returns updated records.

    The assignment in force is kept in the run state. When it changes (cases
    were added to a finished output, so ids handed out in name order shift), the
    files first go back to their pending names, then to the new ones; the state
    names the new assignment before any file takes it, so a run killed at any
    point and run again ends the same.
    """
    out_dir = Path(out_dir)
    ids = final_class_ids(records)
    previous = _ids_in_force(out_dir)
    if previous != ids:
        _move_masks(out_dir, records, previous, {})
        _class_ids_path(out_dir).parent.mkdir(parents=True, exist_ok=True)
        write_json(_class_ids_path(out_dir), ids)
    _move_masks(out_dir, records, {}, ids)
    return _renamed_records(records, ids)


def records_in_force(out_dir, records: Iterable[CaseRecord]) -> List[CaseRecord]:
    """The records with the names their files have under the id assignment in force
    (what ``assign_final_ids`` returned when the metadata was last written)."""
    return _renamed_records(records, _ids_in_force(Path(out_dir)))


def _renamed_records(records: Iterable[CaseRecord], ids: Dict[str, Dict[str, str]]) -> List[CaseRecord]:
    """The records with pending class fields replaced (per data set: pending field -> id),
    their classes under their final names, each image's masks in SPEC order."""
    records = list(records)
    sole_unknown = _sole_unknown_datasets(records)
    updated = []
    for rec in records:
        renames = ids.get(rec.dataset, {})
        images, boxes = {}, {}
        for image, masks in rec.images.items():
            named = sorted(((_renamed(m, renames), box) for m, box in zip(masks, rec.mask_boxes[image])),
                           key=lambda item: mask_sort_key(item[0]))
            images[image] = [name for name, _ in named]
            boxes[image] = [box for _, box in named]
        updated.append(
            CaseRecord(
                dataset=rec.dataset,
                case=rec.case,
                sources=rec.sources,
                images=images,
                mask_boxes=boxes,
                classes={n: renames.get(f, f) for n, f in _final_names(rec, sole_unknown).items()},
                declared={n: renames.get(f, f) for n, f in rec.declared.items()},
                declared_max_id=rec.declared_max_id,
                unnamed=rec.unnamed,
                sole_unknown=rec.sole_unknown,
            )
        )
    return updated


def write_metadata(out_dir, records: Iterable[CaseRecord], test_fraction: float = 0.2) -> List[CaseRecord]:
    """Writes SAMed2D_v1.json, the class mapping and the SAM-Med2D split files.

    Pending classes get their ids first (and their files are renamed); returns
    the records with final names.
    """
    out_dir = Path(out_dir)
    records = sorted(records, key=lambda r: (r.dataset, r.case))
    records = assign_final_ids(out_dir, records)
    write_json(out_dir / RELEASE_JSON, release_index(records))
    write_json(out_dir / CLASS_MAPPING_JSON, class_mapping(records))
    write_split_files(out_dir, records, test_fraction)
    return records


def release_index(records: Iterable[CaseRecord]) -> Dict[str, List[str]]:
    """SAMed2D_v1.json of records with final names: image -> its masks, in sorted image order."""
    release: Dict[str, List[str]] = {}
    for rec in records:
        release.update(rec.images)
    return dict(sorted(release.items()))


def class_mapping(records: Iterable[CaseRecord]) -> Dict[str, Dict[str, str]]:
    """SAMed2D_v1_class_mapping_id.json of records with final names: per data set, every
    declared and every emitted class name -> its class field."""
    mapping: Dict[str, Dict[str, str]] = defaultdict(dict)
    for rec in records:
        mapping[rec.dataset].update(rec.declared)
        mapping[rec.dataset].update(rec.classes)
    return {dataset: dict(sorted(names.items())) for dataset, names in sorted(mapping.items())}


def write_split_files(out_dir, records: List[CaseRecord], test_fraction: float,
                      locate: Callable[[str], str] = lambda name: name) -> None:
    """image2label_train.json and label2image_test.json (SPEC section 6) of records with
    final names; ``locate`` gives where an output name's bytes are (a WebDataset output's
    files are members of its shards)."""
    out_dir = Path(out_dir)
    prefix = out_dir.resolve().name
    train: Dict[str, List[str]] = {}
    test: Dict[str, str] = {}
    for rec in records:
        in_test = is_test_case(rec.split_key, test_fraction)
        for image, masks in rec.images.items():
            if not masks:
                continue
            if in_test:
                for mask in masks:
                    test[f"{prefix}/{locate(mask)}"] = f"{prefix}/{locate(image)}"
            else:
                train[f"{prefix}/{locate(image)}"] = [f"{prefix}/{locate(m)}" for m in masks]
    write_json(out_dir / TRAIN_JSON, train)
    write_json(out_dir / TEST_JSON, test)
