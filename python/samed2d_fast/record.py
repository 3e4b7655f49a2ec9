"""What one converted case wrote: the unit that metadata, resume and merge work on."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Tuple

from .naming import parse_image_path, parse_mask_path
from .output import inside

# The run's state inside OUT (records, failures, id assignments): see state.py.
STATE_DIR = ".samed2d"


@dataclass
class CaseRecord:
    dataset: str                      # cleaned data set field
    case: str                         # cleaned case field, before any channel index
    sources: Tuple[str, ...]          # the input files
    images: Dict[str, List[str]]      # "images/<stem>.png" -> its "masks/..." in SPEC order
    mask_boxes: Dict[str, List[List[int]]]  # the same images -> [area, row0, col0, row1, col1] per mask
    classes: Dict[str, str]           # emitted class name -> class field ("0003", or pending "u1a2b3c4d")
    declared: Dict[str, str] = field(default_factory=dict)  # declared class name -> class field
    declared_max_id: int = -1         # largest id declared for the data set ("ignore" included)
    unnamed: List[int] = field(default_factory=list)          # label values called unknown_{v} (release preset)
    sole_unknown: Dict[str, str] = field(default_factory=dict)  # class name -> its name if the data set has one
    prefixes: List[str] = field(default_factory=list)  # its started entry's file prefixes (none in older OUTs)

    @property
    def split_key(self) -> str:
        """``{dataset}--{case}``: what the train/test split hashes (SPEC section 6)."""
        return f"{self.dataset}--{self.case}"

    @property
    def n_masks(self) -> int:
        return sum(len(m) for m in self.images.values())

    def to_json(self) -> dict:
        out = asdict(self)
        out["sources"] = list(self.sources)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "CaseRecord":
        """A record read back from OUT, checked by ``check_names``; ValueError when it is not valid."""
        try:
            obj = dict(obj)
            obj["sources"] = tuple(obj["sources"])
            record = cls(**obj)
        except (TypeError, KeyError) as exc:
            raise ValueError(f"not a case record ({exc})") from None
        record.check_names()
        return record

    def check_names(self) -> None:
        """Every path is an output name of this very case, inside OUT's images/ or masks/:
        records are read back from OUT, which others may be able to write to, and their
        names are then read, copied and removed."""
        case_field = re.compile(re.escape(self.case) + r"(_[0-9]{4})?")

        def of_this_case(name) -> bool:
            return name.dataset == self.dataset and case_field.fullmatch(name.case) is not None

        if set(self.mask_boxes) != set(self.images):
            raise ValueError("its images and mask boxes differ")
        for image, masks in self.images.items():
            inside(".", image)
            name = parse_image_path(image)
            if not image.startswith("images/") or not of_this_case(name):
                raise ValueError(f"{image} is not an image of case {self.split_key}")
            stem = image[len("images/"):-len(".png")]
            if len(self.mask_boxes[image]) != len(masks):
                raise ValueError(f"{image}: {len(masks)} masks but {len(self.mask_boxes[image])} boxes")
            for mask in masks:
                inside(".", mask)
                if not mask.startswith("masks/") or parse_mask_path(mask).image_stem != stem:
                    raise ValueError(f"{mask} is not a mask of {image}")
        for prefix in self.prefixes if isinstance(self.prefixes, list) else [None]:
            try:
                name = parse_image_path(f"images/{prefix}z_0000.png")
            except (TypeError, ValueError):
                name = None
            if name is None or not of_this_case(name):
                raise ValueError(f"its file prefix {prefix!r} is not one of case {self.split_key}")
        if not (isinstance(self.unnamed, list) and all(type(v) is int for v in self.unnamed)):
            raise ValueError("its unnamed label values are not a list of integers")
        if not (isinstance(self.sole_unknown, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in self.sole_unknown.items())):
            raise ValueError("its unknown class names are not an object of names")
        for name, sole in self.sole_unknown.items():  # renames only its own unknown classes
            if name not in self.classes or not (sole == "unknown" or sole.startswith("union_")):
                raise ValueError(f"its unknown class name {name!r} -> {sole!r} is not one of its classes' names")
