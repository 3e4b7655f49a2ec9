"""The conversion settings of a run: one object from the command line through the
executors to ``convert_case`` (its keyword arguments are a thin front to it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from .classes import UNNAMED_STYLES
from .inputs import DEFAULT_MAX_VOXELS, OVERLAPS
from .naming import clean_field

NORMALIZATIONS = ("volume", "slice")
CONSOLIDATIONS = ("outer", "union", "off")


@dataclass(frozen=True)
class Options:
    """Conversion options shared by every case of a run."""

    connectivity: int = 8
    consolidate: str = "outer"
    keep_empty: bool = False
    rgb: bool = False
    threads: int = 1
    max_voxels: int = DEFAULT_MAX_VOXELS
    normalization: str = "volume"     # "slice": the release preset's per-slice formula (SPEC section 7)
    overlap: str = "error"            # label sets whose classes overlap: fail, or "separate" (SPEC section 8)
    unnamed: str = "label"            # label values without a name: label_{v}, or the release's "unknown" (SPEC 7)
    class_map: Optional[Dict[str, Dict[str, int]]] = None  # data set -> class name -> id

    def __post_init__(self):
        for name, value, allowed in (("normalization", self.normalization, NORMALIZATIONS),
                                     ("consolidate", self.consolidate, CONSOLIDATIONS),
                                     ("overlap", self.overlap, OVERLAPS),
                                     ("unnamed", self.unnamed, UNNAMED_STYLES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    def class_map_of(self, dataset: str) -> Optional[Dict[str, int]]:
        """The class ids given for a data set (matched by its name, or its cleaned name)."""
        if self.class_map is None:
            return None
        for name, ids in self.class_map.items():
            if name == dataset or clean_field(name) == clean_field(dataset):
                return ids
        return {}
