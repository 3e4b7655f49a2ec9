"""Reading what an output folder holds: the one reader behind preview, report and verify.

OUT holds the files a run writes at its end (SAMed2D_v1.json, the class mapping,
the SAM-Med2D split files, summary.json, failures.json) and the run state in
``.samed2d/``, whose case records name everything the cases wrote. An
:class:`OutputFolder` reads each of them on first use, checks its shape and keeps
it: a missing or broken file raises StateError (a ValueError) whose one line names
the file. Before a run has written its metadata (shards not merged yet, a run
interrupted), the image index and the class mapping come from the records, under
the names their files have now; once it has, the two agree.

The records are read by ``state.load_records``, as ``merge`` and ``convert`` read
them, and renamed as the metadata write renames them (``metadata.records_in_force``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Callable, Dict, List

from . import metadata
from .metadata import CLASS_MAPPING_JSON, RELEASE_JSON, TEST_JSON, TRAIN_JSON
from .record import CaseRecord
from .state import FAILURES_JSON, SUMMARY_JSON, StateError, load_records, read_json

__all__ = ["OutputFolder"]


class OutputFolder:
    """The files of the output folder ``path``, each read (and checked) once: a snapshot."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    # --- the run state ------------------------------------------------------------------

    @cached_property
    def records(self) -> List[CaseRecord]:
        """The case records as the cases wrote them, each checked (StateError otherwise)."""
        return load_records(self.path)

    @cached_property
    def records_in_force(self) -> List[CaseRecord]:
        """The records under the names their files have now (pending class ids replaced
        by the ids the last metadata write gave them), masks in SPEC order."""
        return metadata.records_in_force(self.path, self.records)

    @cached_property
    def recorded_index(self) -> Dict[str, List[str]]:
        """The image index the records give: SAMed2D_v1.json as a metadata write would make it."""
        return metadata.release_index(self.records_in_force)

    @cached_property
    def declared_classes(self) -> Dict[str, Dict[str, str]]:
        """Per data set, the classes the records declare: class name -> class field."""
        declared: Dict[str, Dict[str, str]] = {}
        for rec in self.records_in_force:
            declared.setdefault(rec.dataset, {}).update(rec.declared)
        return declared

    # --- what a run writes at its end ---------------------------------------------------

    @cached_property
    def release_index(self) -> Dict[str, List[str]]:
        """SAMed2D_v1.json: ``{"images/<stem>.png": ["masks/...", ...]}`` (StateError when missing)."""
        return _checked(self.path / RELEASE_JSON, "image index", _is_index, "{image: [mask, ...]}")

    @cached_property
    def index(self) -> Dict[str, List[str]]:
        """SAMed2D_v1.json; before a run has written it, the index of the records.
        FileNotFoundError when OUT holds neither."""
        if (self.path / RELEASE_JSON).is_file():
            return self.release_index
        if not self.records:
            raise FileNotFoundError(f"{self.path} is not a samed2d output folder: neither {RELEASE_JSON} "
                                    f"nor case records found")
        return self.recorded_index

    @cached_property
    def class_mapping(self) -> Dict[str, Dict[str, str]]:
        """``{"<dataset>": {"<class name>": "0003"}}``: the class mapping file, else the records'
        declared and emitted classes ({} when OUT holds neither)."""
        path = self.path / CLASS_MAPPING_JSON
        if path.is_file():
            return _checked(path, "class mapping", _is_mapping, "{data set: {class name: class id}}")
        return metadata.class_mapping(self.records_in_force)

    @cached_property
    def class_names(self) -> Dict[str, Dict[str, str]]:
        """Per data set: class field -> class name (the class mapping inverted)."""
        return {ds: {field: name for name, field in sorted(classes.items())}
                for ds, classes in self.class_mapping.items()}

    @cached_property
    def summary(self) -> dict:
        """summary.json; {} when the run has not written it."""
        path = self.path / SUMMARY_JSON
        return _checked(path, "run summary", lambda obj: isinstance(obj, dict), "an object") if path.is_file() else {}

    @cached_property
    def failures(self) -> Dict[str, str]:
        """failures.json as case -> error; {} when absent (nothing failed)."""
        path = self.path / FAILURES_JSON
        if not path.is_file():
            return {}
        entries = _checked(path, "failure list", _is_failure_list, '[{"case": ..., "error": ...}, ...]')
        return {entry["case"]: entry["error"] for entry in entries}

    def split(self, name: str) -> Dict[str, object]:
        """A SAM-Med2D split file: TRAIN_JSON (image -> [masks]) or TEST_JSON (mask -> image)."""
        if name == TRAIN_JSON:
            return _checked(self.path / name, "training split", _is_index, "{image: [mask, ...]}")
        if name == TEST_JSON:
            return _checked(self.path / name, "test split", lambda obj: _is_str_map(obj, _is_str), "{mask: image}")
        raise ValueError(f"not a split file: {name!r} (expected {TRAIN_JSON} or {TEST_JSON})")


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def _checked(path: Path, what: str, valid: Callable[[object], bool], expected: str):
    obj = read_json(path)
    if not valid(obj):
        raise StateError(f"{path}: not a valid {what} (expected {expected})")
    return obj


def _is_str(obj) -> bool:
    return isinstance(obj, str)


def _is_str_map(obj, valid_value: Callable[[object], bool]) -> bool:
    return isinstance(obj, dict) and all(isinstance(k, str) and valid_value(v) for k, v in obj.items())


def _is_index(obj) -> bool:
    return _is_str_map(obj, lambda masks: isinstance(masks, list) and all(map(_is_str, masks)))


def _is_mapping(obj) -> bool:
    return _is_str_map(obj, lambda classes: _is_str_map(classes, _is_str))


def _is_failure_list(obj) -> bool:
    return isinstance(obj, list) and all(isinstance(e, dict) and _is_str(e.get("case")) and _is_str(e.get("error"))
                                         for e in obj)
