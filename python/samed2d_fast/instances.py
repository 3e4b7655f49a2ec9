"""The masks of one 2D label slice (SPEC section 4), as Python objects.

The C++ kernel returns a compact form: an image of component ids and, per
instance, which components make up its mask. An ``Instance`` builds its
boolean ``mask`` only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from . import _core

DEFAULT_MIN_AREA_RATIO = 100 / 65536


@dataclass(frozen=True)
class Instance:
    """One emitted mask of a slice."""

    label: int
    union: bool
    members: Tuple[int, ...]
    area: int
    bbox: Tuple[int, int, int, int]
    _components: np.ndarray = field(repr=False, compare=False)
    _member_ids: np.ndarray = field(repr=False, compare=False)

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask of the slice's shape."""
        out = np.zeros(self._components.shape, dtype=bool)
        r0, c0, r1, c1 = self.bbox
        window = self._components[r0:r1, c0:c1]
        out[r0:r1, c0:c1] = np.isin(window, self._member_ids)
        return out


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
    components = raw["components"]
    mo, members = raw["member_offsets"], raw["member_components"]
    out = []
    for i in range(len(raw["label"])):
        out.append(
            Instance(
                label=int(raw["label"][i]),
                union=bool(raw["union"][i]),
                members=instance_members(raw, i),
                area=int(raw["area"][i]),
                bbox=tuple(int(v) for v in raw["bbox"][i]),
                _components=components,
                _member_ids=members[mo[i] : mo[i + 1]],
            )
        )
    return out

