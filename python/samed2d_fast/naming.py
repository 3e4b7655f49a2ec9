"""File names of the SA-Med2D-20M layout (SPEC section 5), and parsing them back.

    images/{modality}--{dataset}--{case}--{dim_slice_id}.png
    masks/{modality}--{dataset}--{case}--{dim_slice_id}--{class_id}_{instance}.png
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import List, NamedTuple

SEPARATOR = "--"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DASH_RUN = re.compile(r"-+")
_MASK_TAIL = re.compile(r"^(?P<class_id>u[0-9a-f]{8}|[0-9]{4,})_(?P<instance>[0-9]{3,})$")


def clean_field(text: str) -> str:
    """One name field, safe for a file name and never containing the separator."""
    text = _UNSAFE.sub("_", unicodedata.normalize("NFC", str(text)))
    text = _DASH_RUN.sub("-", text).lstrip(".-").rstrip("-")
    return text or "_"


def dim_slice_id(axis: int, index: int, axis_length: int) -> str:
    """``x_0100``: k zero-padded to max(4, digits of the axis's last index)."""
    width = max(4, len(str(max(axis_length - 1, 0))))
    return f"{'xyz'[axis]}_{index:0{width}d}"


DIM_SLICE_2D = "2d_none"


def format_class_id(class_id: int) -> str:
    return f"{class_id:04d}"


def pending_class_field(class_name: str) -> str:
    """Class field of a class whose id is only known when the metadata is written."""
    return "u" + hashlib.sha1(class_name.encode("utf-8")).hexdigest()[:8]


def case_prefix(modality: str, dataset: str, case: str) -> str:
    """``{modality}--{dataset}--{case}--``: starts every file name of one case's channel, and
    no other's (a cleaned field never holds ``--``)."""
    return SEPARATOR.join(clean_field(f) for f in (modality, dataset, case)) + SEPARATOR


def image_stem(modality: str, dataset: str, case: str, slice_id: str) -> str:
    return case_prefix(modality, dataset, case) + clean_field(slice_id)


def image_path(stem: str) -> str:
    return f"images/{stem}.png"


def mask_path(stem: str, class_field: str, instance: int) -> str:
    return f"masks/{stem}{SEPARATOR}{class_field}_{instance:03d}.png"


class ImageName(NamedTuple):
    modality: str
    dataset: str
    case: str
    slice_id: str


_SLICE_ID = re.compile(r"^(?:[xyz]_[0-9]{4,}|2d_none)$")


def parse_image_stem(stem: str) -> ImageName:
    """Splits ``<modality>--<dataset>--<case>--<dim_slice_id>``; ValueError when it does not parse."""
    fields = stem.split(SEPARATOR)
    if len(fields) != 4 or not all(fields) or clean_field(fields[2]) != fields[2] or not _SLICE_ID.match(fields[3]):
        raise ValueError(f"not an image name: {stem}")
    return ImageName(*fields)


def parse_image_path(path: str) -> ImageName:
    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".png"):
        raise ValueError(f"not an image name: {path}")
    return parse_image_stem(name[: -len(".png")])


class MaskName(NamedTuple):
    image_stem: str
    class_field: str
    instance: int


def parse_mask_path(path: str) -> MaskName:
    """Splits ``masks/<stem>--<class>_<instance>.png``; ValueError when it does not parse."""
    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".png"):
        raise ValueError(f"not a mask name: {path}")
    stem, sep, tail = name[: -len(".png")].rpartition(SEPARATOR)
    match = _MASK_TAIL.match(tail)
    if not sep or match is None:
        raise ValueError(f"not a mask name: {path}")
    parse_image_stem(stem)
    return MaskName(stem, match["class_id"], int(match["instance"]))


def mask_sort_key(path: str):
    """Masks of one image sort by (class id as a number, instance)."""
    name = parse_mask_path(path)
    field = name.class_field
    numeric = int(field) if field.isdigit() else float("inf")
    return (numeric, field, name.instance)


def modality_fields(modality, channels: int, source) -> List[str]:
    """The cleaned modality tag of each channel: one tag for all, or one per channel."""
    tags = [modality] * channels if isinstance(modality, str) else list(modality)
    if len(tags) != channels:
        raise ValueError(f"{source}: {channels} channel(s) but {len(tags)} modality tag(s) given")
    return [clean_field(t) for t in tags]
