"""The masks of one 2D label slice (SPEC section 4), as Python objects.

The C++ kernel returns a compact form: an image of component ids and, per
instance, which components make up its mask. The boolean masks are built only
when one is asked for, then all of a slice's at once, by one C++ call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from . import _core

DEFAULT_MIN_AREA_RATIO = 100 / 65536


class _SliceMasks:
    """The boolean masks of one slice's instances, built together on first use."""

    def __init__(self, raw: dict):
        self._raw = raw
        self._masks: Optional[np.ndarray] = None

    def __getitem__(self, i: int) -> np.ndarray:
        if self._masks is None:
            raw = self._raw
            masks = _core.instance_masks(raw["components"], raw["member_offsets"], raw["member_components"],
                                         raw["bbox"])
            masks.setflags(write=False)  # shared by the slice's instances
            self._masks = masks
        return self._masks[i]


@dataclass(frozen=True)
class Instance:
    """One emitted mask of a slice."""

    label: int
    union: bool
    members: Tuple[int, ...]
    area: int
    bbox: Tuple[int, int, int, int]
    _masks: _SliceMasks = field(repr=False, compare=False)
    _index: int = field(repr=False, compare=False)

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask of the slice's shape (read-only: a view into the slice's masks)."""
        return self._masks[self._index]


def slice_instances(
    label2d,
    *,
    connectivity: int = 8,
    consolidate: str = "outer",
    min_area_ratio: float = DEFAULT_MIN_AREA_RATIO,
) -> List[Instance]:
    """Instances of one 2D label slice in SPEC order.

    Each has ``label``, ``union`` (the extra instance of mode ``union``),
    ``members`` (own label, then the enclosed labels ascending), ``area``,
    ``bbox`` (row0, col0, row1, col1, half-open) and ``mask``.
    """
    return instances_from_raw(slice_instances_raw(label2d, connectivity, consolidate, min_area_ratio))


def slice_instances_raw(
    label2d,
    connectivity: int = 8,
    consolidate: str = "outer",
    min_area_ratio: float = DEFAULT_MIN_AREA_RATIO,
    *,
    with_components: bool = True,
    with_pngs: bool = False,
) -> dict:
    """The kernel's compact result: per-instance arrays, plus the component id
    image (``with_components``) and each mask's PNG bytes (``with_pngs``)."""
    return _core.slice_instances(
        np.asarray(label2d), connectivity, consolidate, float(min_area_ratio), with_components, with_pngs
    )


def instance_members(raw: dict, i: int) -> Tuple[int, ...]:
    """Instance i's own label, then the labels it encloses (ascending)."""
    lo = raw["label_offsets"]
    return tuple(int(v) for v in raw["member_labels"][lo[i] : lo[i + 1]])


def instances_from_raw(raw: dict) -> List[Instance]:
    """Wraps the kernel's compact result in Instance objects."""
    masks = _SliceMasks(raw)
    labels, unions, areas, boxes = (raw[k].tolist() for k in ("label", "union", "area", "bbox"))
    return [Instance(label=labels[i], union=bool(unions[i]), members=instance_members(raw, i), area=areas[i],
                     bbox=tuple(boxes[i]), _masks=masks, _index=i) for i in range(len(labels))]

