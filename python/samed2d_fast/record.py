"""What one converted case wrote: the unit that metadata, resume and merge work on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Tuple

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
        obj = dict(obj)
        obj["sources"] = tuple(obj["sources"])
        return cls(**obj)
