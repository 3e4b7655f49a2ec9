"""Plain numpy/scipy reference implementations of the samed2d_fast kernels.

These follow SPEC.md sections 2, 3 and 4 literally and favour clarity over speed.
They must not import samed2d_fast: the property tests compare the package against them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = [
    "normalize_ref",
    "display_slice_ref",
    "keep_slice_ref",
    "hull_ref",
    "slice_instances_ref",
    "DEFAULT_MIN_AREA_RATIO",
    "STRUCTURE_8",
    "STRUCTURE_4",
]

DEFAULT_MIN_AREA_RATIO = 100 / 65536

STRUCTURE_8 = np.ones((3, 3), dtype=bool)
STRUCTURE_4 = ndimage.generate_binary_structure(2, 1)  # the cross


# --------------------------------------------------------------------------------------
# SPEC section 2: Self-Min-Max normalisation
# --------------------------------------------------------------------------------------


def normalize_ref(a: np.ndarray) -> np.ndarray:
    """``ceil(255 * (x - lo) / (hi - lo))`` clipped to [0, 255] as uint8, over the whole array.

    Integer dtypes use exact integer arithmetic on Python ints (object arrays), so the
    int64/uint64 extremes are exact. Float dtypes are computed in IEEE double:
    ``t = (x - lo) / (hi - lo)``, ``out = ceil(t * 255.0)``. NaN/+-Inf map to 0;
    ``hi == lo`` or no finite value gives all zeros; an overflowing ``hi - lo`` raises
    ValueError. Either byte order is accepted.
    """
    a = np.asarray(a)
    kind = a.dtype.kind
    if kind in "iu":
        return _normalize_int(a)
    if kind == "f":
        return _normalize_float(a)
    raise TypeError(f"normalize_ref: unsupported dtype {a.dtype}")


def _normalize_int(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape, dtype=np.uint8)
    if a.size == 0:
        return out
    flat = [int(v) for v in a.ravel(order="C").tolist()]  # exact Python ints
    lo = min(flat)
    hi = max(flat)
    d = hi - lo
    if d == 0:
        return out
    vals = [(255 * (x - lo) + d - 1) // d for x in flat]
    assert all(0 <= v <= 255 for v in vals)
    return np.array(vals, dtype=np.uint8).reshape(a.shape)


def _normalize_float(a: np.ndarray) -> np.ndarray:
    x = a.astype(np.float64)  # exact for float16/32, handles byte order
    out = np.zeros(a.shape, dtype=np.uint8)
    finite = np.isfinite(x)
    if not finite.any():
        return out
    lo = float(x[finite].min())
    hi = float(x[finite].max())
    if hi == lo:
        return out
    with np.errstate(over="ignore"):
        d = np.float64(hi) - np.float64(lo)
    if not np.isfinite(d):
        raise ValueError(f"normalize_ref: hi - lo overflows float64 (lo={lo!r}, hi={hi!r})")
    xf = x[finite]
    t = (xf - np.float64(lo)) / d
    v = np.ceil(t * np.float64(255.0))
    v = np.clip(v, 0.0, 255.0)
    out[finite] = v.astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------
# SPEC section 3: slicing
# --------------------------------------------------------------------------------------


def display_slice_ref(vol: np.ndarray, axis: int, k: int) -> np.ndarray:
    """The saved 2D image of slice ``k`` along ``axis`` (0, 1, 2): ``S.T[::-1, ::-1]``."""
    vol = np.asarray(vol)
    if axis == 0:
        s = vol[k, :, :]
    elif axis == 1:
        s = vol[:, k, :]
    elif axis == 2:
        s = vol[:, :, k]
    else:
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    return s.T[::-1, ::-1]


def keep_slice_ref(h: int, w: int) -> bool:
    """Aspect filter: keep a slice only if ``2 * min(h, w) >= max(h, w)``."""
    return 2 * min(h, w) >= max(h, w)


# --------------------------------------------------------------------------------------
# SPEC section 4: masks of one 2D label slice
# --------------------------------------------------------------------------------------


def _structure(connectivity: int) -> np.ndarray:
    return STRUCTURE_8 if connectivity == 8 else STRUCTURE_4


def hull_ref(b: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """``b`` plus every pixel that cannot reach the image border through pixels outside ``b``.

    Movement outside ``b`` uses the complementary connectivity (4 for 8-connected masks,
    8 for 4-connected masks). Implemented by labelling the complement of ``b`` padded with
    one ring of background and keeping the component connected to the pad.
    """
    b = np.asarray(b, dtype=bool)
    comp_structure = _structure(4 if connectivity == 8 else 8)
    outside = np.pad(~b, 1, mode="constant", constant_values=True)
    lab, _ = ndimage.label(outside, structure=comp_structure)
    pad_label = lab[0, 0]
    reach = (lab == pad_label)[1:-1, 1:-1]
    return ~reach


def _validate_label_map(lab2d, connectivity, consolidate) -> np.ndarray:
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    if consolidate not in ("outer", "union", "off"):
        raise ValueError(f"consolidate must be 'outer', 'union' or 'off', got {consolidate!r}")
    lab = np.asarray(lab2d)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"label map must have an integer dtype, got {lab.dtype}")
    if lab.ndim != 2:
        raise ValueError(f"label map must be 2D, got shape {lab.shape}")
    if lab.size:
        if int(lab.min()) < 0:
            raise ValueError("negative label value")
        if int(lab.max()) > 2**32 - 1:
            raise ValueError("label value above 2**32-1")
    return lab


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def slice_instances_ref(
    lab2d: np.ndarray,
    connectivity: int = 8,
    consolidate: str = "outer",
    min_area_ratio: float = DEFAULT_MIN_AREA_RATIO,
) -> list[dict]:
    """Instances of one 2D label slice (SPEC section 4), as dicts.

    Keys: ``label`` (int), ``union`` (bool), ``members`` (tuple: own label first, then the
    enclosed labels ascending, unique), ``area`` (int), ``bbox`` ((row0, col0, row1, col1),
    half-open, of the emitted mask), ``mask`` (bool array of the slice shape).
    """
    lab = _validate_label_map(lab2d, connectivity, consolidate)
    h, w = lab.shape
    if lab.size == 0:
        return []
    lab = lab.astype(np.int64)  # values are in [0, 2**32-1], exact in int64
    structure = _structure(connectivity)

    # 1.+2. split per label value, connected components of each foreground
    comps = []  # (first row-major index, label, mask)
    for v in np.unique(lab):
        v = int(v)
        if v == 0:
            continue
        cl, n = ndimage.label(lab == v, structure=structure)
        for i in range(1, n + 1):
            m = cl == i
            first = int(np.flatnonzero(m.ravel())[0])
            comps.append((first, v, m))

    # 3. containment on the original components
    hulls = [hull_ref(m, connectivity) if consolidate != "off" else None for _, _, m in comps]
    emitted = []  # (sort key, dict)
    for j, (first_b, vb, mb) in enumerate(comps):
        enclosed_labels = set()
        united = mb.copy()
        if consolidate != "off":
            hb = hulls[j]
            for i, (_, va, ma) in enumerate(comps):
                if i == j or va == vb:
                    continue
                if not (ma & ~hb).any():  # every pixel of a lies in hull(b)
                    enclosed_labels.add(va)
                    united |= ma
        members = (vb,) + tuple(sorted(enclosed_labels))
        if consolidate == "outer":
            emitted.append(((first_b, 0), vb, False, members, united))
        else:
            emitted.append(((first_b, 0), vb, False, (vb,), mb))
            if consolidate == "union" and enclosed_labels:
                emitted.append(((first_b, 1), vb, True, members, united))

    # 4. small-mask filter (exact for the default ratio: area*65536 < 100*h*w)
    # 5. order by the lowest row-major index of the original component
    limit = np.float64(min_area_ratio) * np.float64(h * w)
    result = []
    for _key, v, is_union, members, mask in sorted(emitted, key=lambda e: e[0]):
        area = int(mask.sum())
        if np.float64(area) < limit:
            continue
        result.append(
            {
                "label": int(v),
                "union": bool(is_union),
                "members": tuple(int(m) for m in members),
                "area": area,
                "bbox": _bbox(mask),
                "mask": mask,
            }
        )
    return result


def default_filter_keeps(area: int, h: int, w: int) -> bool:
    """SPEC 4.4 exactly, for the default ratio: keep unless ``area * 65536 < 100 * h * w``."""
    return not (area * 65536 < 100 * h * w)


# sanity: the float64 form of the default ratio is exact
assert DEFAULT_MIN_AREA_RATIO == math.ldexp(100, -16)
