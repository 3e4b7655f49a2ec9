"""Finding the cases of a raw data set folder (MSD, nnU-Net v1/v2, 2D, or globs).

Only file names and headers are looked at here; nothing is decoded. A
``CaseSpec`` carries everything ``convert_case`` needs, so a case can be sent
to any worker as it is.
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import io
from .naming import clean_field
from .pipeline import case_name_of, is_nifti

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")

# Channel names of dataset.json (and --modality words) -> release modality tags.
MODALITY_TAGS = {
    "ct": "ct_00",
    "mr": "mr_00", "mri": "mr_00",
    "t1": "mr_t1", "t1w": "mr_t1",
    "t1gd": "mr_t1ce", "t1ce": "mr_t1ce", "t1c": "mr_t1ce",
    "t2": "mr_t2", "t2w": "mr_t2",
    "flair": "mr_flair",
    "adc": "mr_adc",
    "dwi": "mr_dwi",
    "pet": "pet_00",
}
RELEASE_TAGS = {
    "ct_00", "mr_00", "mr_t1", "mr_t1ce", "mr_t2", "mr_flair", "mr_adc", "mr_dwi", "pet_00",
    "x_ray", "ultrasound_00", "endoscopy_00", "dermoscopy_00", "fundus_photography",
}


class DatasetError(ValueError):
    """A data set folder cannot be read as a whole (not a single case's fault)."""


def modality_tag(name: str, source: str) -> str:
    """A release tag for a channel name: the table above, or a release tag itself."""
    key = name.strip().lower()
    if key in MODALITY_TAGS:
        return MODALITY_TAGS[key]
    if key in RELEASE_TAGS:
        return key
    raise DatasetError(
        f"{source}: channel name {name!r} has no SA-Med2D modality tag; "
        f"give one with --modality (e.g. --modality ct_00, or one tag per channel)"
    )


@dataclass
class CaseSpec:
    """One case to convert: inputs, names and options that vary per data set."""

    dataset: str
    case: str
    images: Tuple[str, ...]
    label: str
    modality: Tuple[str, ...]           # one tag per channel (or one tag for all)
    class_names: Dict[int, str] = field(default_factory=dict)
    binary: Optional[bool] = None

    @property
    def key(self) -> str:
        return f"{clean_field(self.dataset)}--{clean_field(self.case)}"

    def modality_arg(self):
        return self.modality[0] if len(self.modality) == 1 else list(self.modality)


@dataclass
class Dataset:
    name: str
    source: str
    layout: str                          # "msd/nnunet", "2d" or "glob"
    cases: List[CaseSpec]
    unlabelled: List[str] = field(default_factory=list)   # images skipped for want of a label
    class_names: Dict[int, str] = field(default_factory=dict)


def _is_input(path: Path) -> bool:
    return is_nifti(path) or path.suffix.lower() in IMAGE_SUFFIXES


def _visible(paths) -> List[Path]:
    return sorted(p for p in paths if not p.name.startswith("."))


def read_class_names(obj) -> Dict[int, str]:
    """``labels`` of dataset.json in either form: {"1": "liver"} or {"liver": 1}.

    nnU-Net v2 regions (a list of values) are not classes and are left out.
    """
    if not isinstance(obj, dict):
        raise DatasetError(f"labels must be a JSON object, got {type(obj).__name__}")
    names: Dict[int, str] = {}
    for key, value in obj.items():
        if isinstance(value, list):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            names[value] = str(key)
        elif isinstance(value, str) and str(key).lstrip("-").isdigit():
            names[int(key)] = value
        elif isinstance(value, str) and value.lstrip("-").isdigit():
            names[int(value)] = str(key)
        else:
            raise DatasetError(f"cannot read label entry {key!r}: {value!r}")
    return names


def load_class_names_file(path) -> Dict[int, str]:
    """A JSON object of class names in either dataset.json form (or a dataset.json itself)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
            obj = obj["labels"]
        return read_class_names(obj)
    except (OSError, json.JSONDecodeError, DatasetError) as exc:
        raise DatasetError(f"{path}: cannot read class names ({exc})") from None


def _channel_tags(meta: dict, source: str, override: Optional[Sequence[str]]) -> List[str]:
    if override:
        return [modality_tag(m, source) for m in override]
    channels = meta.get("channel_names") or meta.get("modality")
    if not isinstance(channels, dict) or not channels:
        raise DatasetError(f"{source}: dataset.json names no channels; give --modality")
    return [modality_tag(channels[k], source) for k in sorted(channels, key=lambda k: int(k))]


def find_msd_nnunet(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """An MSD / nnU-Net v1 / v2 folder: dataset.json, imagesTr/, labelsTr/."""
    source = str(root / "dataset.json")
    try:
        meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{source}: cannot read ({exc})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{source}: not a JSON object")
    if class_names is None:
        if "labels" not in meta:
            raise DatasetError(f"{source}: no 'labels' entry; give --class-names")
        try:
            class_names = read_class_names(meta["labels"])
        except DatasetError as exc:
            raise DatasetError(f"{source}: {exc}") from None
    tags = _channel_tags(meta, source, modality)
    dataset = name or meta.get("name") or root.name
    labels = {case_name_of(p): p for p in _visible((root / "labelsTr").iterdir()) if _is_input(p)}
    images: Dict[str, List[Path]] = {}
    for path in _visible((root / "imagesTr").iterdir()):
        if not _is_input(path):
            continue
        stem = case_name_of(path)
        match = _CHANNEL_SUFFIX.match(stem)
        case = match["case"] if match and stem not in labels else stem
        images.setdefault(case, []).append(path)
    cases = [
        CaseSpec(str(dataset), case, tuple(map(str, sorted(paths))), str(labels[case]), tuple(tags), class_names)
        for case, paths in sorted(images.items())
        if case in labels
    ]
    unlabelled = [str(p) for case, paths in sorted(images.items()) if case not in labels for p in paths]
    return Dataset(str(dataset), str(root), "msd/nnunet", cases, unlabelled, class_names)


def _stems(folder: Path) -> Dict[str, Path]:
    return {p.stem: p for p in _visible(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def find_2d(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """A 2D folder: images/ and masks/ (or labels/) matched by file stem."""
    if not modality:
        raise DatasetError(f"{root}: a 2D data set needs --modality (e.g. dermoscopy_00)")
    tags = [modality_tag(m, str(root)) for m in modality]
    mask_dir = root / "masks" if (root / "masks").is_dir() else root / "labels"
    images, masks = _stems(root / "images"), _stems(mask_dir)
    if class_names is None:
        class_names = load_class_names_file(root / "classes.json") if (root / "classes.json").is_file() else {}
    dataset = name or root.name
    cases = [
        CaseSpec(dataset, stem, (str(images[stem]),), str(masks[stem]), tuple(tags), class_names)
        for stem in sorted(images)
        if stem in masks
    ]
    unlabelled = [str(images[s]) for s in sorted(images) if s not in masks]
    return Dataset(dataset, str(root), "2d", cases, unlabelled, class_names)


def _glob_case_names(pattern: str) -> Dict[str, str]:
    """Files matching ``pattern`` keyed by the text its wildcards matched.

    ``raw/*_ct.nii.gz`` and ``raw/*_seg.nii.gz`` both key ``raw/p01_...`` as
    ``p01``; a pattern without wildcards keys its file by its case name.
    """
    regex, wild = "", False
    for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern):
        if part in ("**/", "**"):
            regex, wild = regex + "(.*?)", True
        elif part == "*":
            regex, wild = regex + "([^/]*)", True
        elif part == "?":
            regex, wild = regex + "([^/])", True
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            regex, wild = regex + "(" + part.replace("[!", "[^") + ")", True
        else:
            regex += re.escape(part)
    matcher = re.compile(regex + r"\Z")
    out: Dict[str, str] = {}
    for path in sorted(glob.glob(pattern, recursive=True)):
        match = matcher.match(path)
        key = "".join(match.groups()) if wild and match else case_name_of(path)
        out[key] = path
    return out


def find_globs(image_glob: str, label_glob: str, name: Optional[str], modality, class_names) -> Dataset:
    """Cases from two glob patterns, matched by what their wildcards matched; unpaired files are an error."""
    if not modality:
        raise DatasetError("--images/--labels need --modality")
    images, labels = _glob_case_names(image_glob), _glob_case_names(label_glob)
    lonely = sorted(set(images) ^ set(labels))
    if lonely or not images:
        detail = ", ".join(
            f"{images[c]} (image without a label)" if c in images else f"{labels[c]} (label without an image)"
            for c in lonely[:20]
        ) or f"no files match {image_glob!r}"
        more = f" and {len(lonely) - 20} more" if len(lonely) > 20 else ""
        raise DatasetError(f"--images/--labels do not pair: {detail}{more}")
    tags = [modality_tag(m, image_glob) for m in modality]
    dataset = name or Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in images.values()])).name
    cases = [CaseSpec(dataset or "dataset", c, (images[c],), labels[c], tuple(tags), class_names or {})
             for c in sorted(images)]
    return Dataset(dataset or "dataset", image_glob, "glob", cases, [], class_names or {})


def find_dataset(root, *, name=None, modality=None, class_names=None) -> Dataset:
    """Detects the layout of ``root`` by its shape."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if (root / "dataset.json").is_file() and (root / "imagesTr").is_dir() and (root / "labelsTr").is_dir():
        return find_msd_nnunet(root, name, modality, class_names)
    if (root / "images").is_dir() and ((root / "masks").is_dir() or (root / "labels").is_dir()):
        return find_2d(root, name, modality, class_names)
    raise DatasetError(
        f"{root}: not an MSD/nnU-Net folder (dataset.json, imagesTr/, labelsTr/) nor a 2D one "
        f"(images/ and masks/ or labels/); use --images GLOB --labels GLOB"
    )


def name_collisions(cases: Sequence[CaseSpec], webdataset_keys: bool = False) -> Dict[str, List[CaseSpec]]:
    """Cases of one data set whose cleaned names are equal, by their shared key; with
    ``webdataset_keys`` also those equal once ``.`` is replaced by ``_`` (WebDataset keys)."""
    by_key: Dict[str, List[CaseSpec]] = {}
    for spec in cases:
        by_key.setdefault(spec.key.replace(".", "_") if webdataset_keys else spec.key, []).append(spec)
    return {k: v for k, v in by_key.items() if len(v) > 1}


def decide_binary(dataset: Dataset) -> None:
    """SPEC section 1: a 2D data set whose masks hold only 0 and 255 is binary.

    Decodes every mask once (2D masks are small); a mask that cannot be read
    is left for its case to report.
    """
    if not dataset.cases or is_nifti(dataset.cases[0].label):
        return
    binary = True
    for spec in dataset.cases:
        try:
            values = io.read_2d_label(spec.label, binary=False)
        except io.InputError:
            continue
        if not io.is_binary_mask(values) and values.any():
            binary = False
            break
    for spec in dataset.cases:
        spec.binary = binary


def load_class_map(path) -> Dict[str, Dict[str, int]]:
    """A ``SAMed2D_v1_class_mapping_id.json``-style file: {"dataset": {"class name": "0003"}}."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
            raise ValueError('expected {"dataset": {"class name": "0003", ...}, ...}')
        return {str(ds): {str(n): int(i) for n, i in ids.items()} for ds, ids in obj.items()}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the class map ({exc})") from None
