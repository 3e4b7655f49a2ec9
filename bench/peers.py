"""Peer implementations measured beside samed2d_fast.

Each stage has the strongest plain-Python-ecosystem way we know of doing the same work,
and the whole case has two peers: the plain reference pipeline of the tests
(numpy + scipy + Pillow, ``write_case_ref``) and ``convert_case_cc3d``, built from the
fastest parts available (cc3d, blockwise numpy, cv2 or Pillow at compress level 1).
The cc3d and scipy peers skip containment consolidation (SPEC 4.3) but keep the
small-mask filter (SPEC 4.4): they do a little less work than ours and write about as many files.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path

import cc3d
import nibabel as nib
import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_pipeline import write_case_ref  # noqa: E402,F401  (the plain peer, used as peers.write_case_ref)

try:
    import cv2
except ImportError:  # OpenCV is optional: the peers fall back to Pillow
    cv2 = None

MIN_AREA_RATIO = 100 / 65536  # SPEC 4.4
# Elements per block: the int64/float64 temporaries of one block stay in cache.
BLOCK = 1 << 18


# ---- normalisation (SPEC 2) -----------------------------------------------------------


def normalize_int_exact(a: np.ndarray) -> np.ndarray:
    """SPEC 2 for integers of up to 32 bits: ``(255*(x-lo)+d-1)//d`` in int64, blockwise."""
    if a.dtype.kind not in "iu" or a.dtype.itemsize > 4:
        raise TypeError(f"normalize_int_exact: integers of up to 32 bits, got {a.dtype}")
    out = np.zeros(a.shape, np.uint8)
    if a.size == 0:
        return out
    lo, hi = int(a.min()), int(a.max())
    d = hi - lo
    if d == 0:
        return out
    src, dst = np.ravel(a), out.reshape(-1)
    for s in range(0, src.size, BLOCK):
        x = src[s : s + BLOCK].astype(np.int64)
        x -= lo
        x *= 255
        x += d - 1
        x //= d
        dst[s : s + BLOCK] = x
    return out


def normalize_float_exact(a: np.ndarray) -> np.ndarray:
    """SPEC 2 for floats: ``ceil((x-lo)/(hi-lo)*255)`` in float64; NaN/Inf -> 0, blockwise."""
    out = np.zeros(a.shape, np.uint8)
    finite = np.isfinite(a)
    if not finite.any():
        return out
    lo = float(np.min(a, where=finite, initial=np.inf))
    hi = float(np.max(a, where=finite, initial=-np.inf))
    if hi == lo:
        return out
    with np.errstate(over="ignore"):
        d = np.float64(hi) - np.float64(lo)
    if not np.isfinite(d):
        raise ValueError(f"hi - lo overflows float64 (lo={lo!r}, hi={hi!r})")
    src, ok, dst = np.ravel(a), finite.reshape(-1), out.reshape(-1)
    with np.errstate(invalid="ignore"):
        for s in range(0, src.size, BLOCK):
            t = (src[s : s + BLOCK].astype(np.float64) - lo) / d
            v = np.ceil(t * 255.0)
            v[~ok[s : s + BLOCK]] = 0.0
            np.clip(v, 0.0, 255.0, out=v)
            dst[s : s + BLOCK] = v
    return out


def copy_bytes(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``numpy.copyto`` of the input: reads and writes its bytes once (bandwidth bound)."""
    np.copyto(out, a)
    return out


# ---- instances of one label slice (SPEC 4 without consolidation) ----------------------


def _keeps(area: int, h: int, w: int, ratio: float) -> bool:
    return not area < ratio * h * w  # SPEC 4.4, the same float test as the reference


def instances_cc3d(lab2d: np.ndarray, min_area_ratio: float = MIN_AREA_RATIO, masks: bool = True) -> list:
    """[(label, bool mask)]: cc3d multilabel 8-connected components in raster order
    (``masks=False``: [(label, area, box)], no mask built)."""
    cc, n = cc3d.connected_components(lab2d, connectivity=8, return_N=True)
    if n == 0:
        return []
    stats = cc3d.statistics(cc)
    label_of = np.zeros(n + 1, lab2d.dtype)
    label_of[cc.reshape(-1)] = lab2d.reshape(-1)
    h, w = lab2d.shape
    out = []
    for i in range(1, n + 1):
        if not _keeps(int(stats["voxel_counts"][i]), h, w, min_area_ratio):
            continue
        box = stats["bounding_boxes"][i]
        if not masks:
            out.append((int(label_of[i]), int(stats["voxel_counts"][i]), box))
            continue
        mask = np.zeros(lab2d.shape, bool)
        mask[box] = cc[box] == i
        out.append((int(label_of[i]), mask))
    return out


_EIGHT = np.ones((3, 3), bool)


def instances_scipy(lab2d: np.ndarray, min_area_ratio: float = MIN_AREA_RATIO) -> list:
    """[(label, bool mask)]: scipy.ndimage.label per class value + find_objects."""
    h, w = lab2d.shape
    out = []
    for v in np.unique(lab2d):
        if v == 0:
            continue
        comps, _ = ndimage.label(lab2d == v, structure=_EIGHT)
        for i, box in enumerate(ndimage.find_objects(comps), start=1):
            window = comps[box] == i
            if not _keeps(int(np.count_nonzero(window)), h, w, min_area_ratio):
                continue
            mask = np.zeros(lab2d.shape, bool)
            mask[box] = window
            out.append((int(v), mask))
    return out


# ---- PNG encoding ---------------------------------------------------------------------


def png_pillow(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **options)
    return buffer.getvalue()


def png_pillow_fast(pixels: np.ndarray) -> bytes:
    return png_pillow(pixels, compress_level=1)


def png_cv2(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    return data.tobytes()


png_fastest = png_cv2 if cv2 is not None else png_pillow_fast
PNG_FASTEST_NAME = "cv2.imencode" if cv2 is not None else "Pillow compress_level=1"


# ---- the strongest whole-case peer ----------------------------------------------------


def _display(volume: np.ndarray, axis: int, k: int) -> np.ndarray:
    """SPEC 3: ``S.T[::-1, ::-1]`` as a contiguous array (cc3d and the encoders need one)."""
    # Basic indexing: np.take would first copy a Fortran-ordered (NIfTI) volume whole.
    return np.ascontiguousarray(volume[(slice(None),) * axis + (k,)].T[::-1, ::-1])


def normalize_release_numpy(x: np.ndarray) -> np.ndarray:
    """SPEC section 7 in numpy: ``((x - min) / (max - min + 1e-8) * 255)`` in float64 over
    one slice's finite values, truncated; NaN and +-Inf give 0."""
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    out = np.zeros(x.shape, np.uint8)
    if finite.any():
        lo, hi = x[finite].min(), x[finite].max()
        out[finite] = ((x[finite] - lo) / (hi - lo + 1e-8) * 255).astype(np.uint8)
    return out


def convert_case_cc3d(image_path, label_path, out_dir, *, dataset: str, modality: str, case: str,
                      release: bool = False) -> int:
    """One case with the fastest parts at hand; returns the number of PNGs written.

    nibabel read (RAS+) -> exact numpy normalisation -> per kept slice: cc3d components,
    small-mask filter, one mask per component -> ``png_fastest`` -> plain file writes.
    Fields are taken as already clean; class fields are the label values. ``release``:
    the release preset's images instead: each slice of ``get_fdata()`` normalised on its
    own (``normalize_release_numpy``) and encoded as three equal channels.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    canonical = nib.as_closest_canonical(nib.load(str(image_path)))
    labels = np.asanyarray(nib.as_closest_canonical(nib.load(str(label_path))).dataobj)
    if release:
        scaled = canonical.get_fdata()
    else:
        image = np.asanyarray(canonical.dataobj)
        normed = normalize_int_exact(image) if image.dtype.kind in "iu" else normalize_float_exact(image)
    written = 0
    for axis, axis_name in enumerate("xyz"):
        size = labels.shape[axis]
        h, w = (labels.shape[a] for a in range(3) if a != axis)
        if 2 * min(h, w) < max(h, w):
            continue
        width = max(4, len(str(size - 1)))
        for k in range(size):
            instances = instances_cc3d(_display(labels, axis, k))
            if not instances:
                continue
            stem = f"{modality}--{dataset}--{case}--{axis_name}_{k:0{width}d}"
            if release:
                pixels = normalize_release_numpy(_display(scaled, axis, k))
                pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
            else:
                pixels = _display(normed, axis, k)
            (out_dir / "images" / f"{stem}.png").write_bytes(png_fastest(pixels))
            counter: Counter = Counter()
            for value, mask in instances:
                name = f"{stem}--{value:04d}_{counter[value]:03d}.png"
                counter[value] += 1
                (out_dir / "masks" / name).write_bytes(png_fastest(mask.view(np.uint8) * np.uint8(255)))
            written += 1 + len(instances)
    return written
