"""Test helpers: making NIfTI and 2D cases, and comparing written output with the reference."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image


def save_nifti(path: Path, data: np.ndarray, affine=None, *, slope=None, inter=None, dtype=None) -> Path:
    """Saves ``data`` as stored values; ``slope``/``inter`` are written into the header
    as given (0 included), which nibabel's own writer would recompute."""
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if dtype is not None:
        img.set_data_dtype(dtype)
    nib.save(img, str(path))
    if slope is not None:
        assert str(path).endswith(".nii"), "scaling is patched into uncompressed files only"
        with open(path, "r+b") as f:  # scl_slope and scl_inter sit at bytes 112..119
            f.seek(112)
            f.write(np.array([slope, inter or 0.0], dtype=img.header.endianness + "f4").tobytes())
    return path


def oriented_affine(perm, flips, zooms=(1.0, 1.0, 1.0)) -> np.ndarray:
    """An affine whose stored axes are a permutation/flip of RAS+ (any orientation code)."""
    affine = np.zeros((4, 4))
    affine[3, 3] = 1
    for stored_axis, world_axis in enumerate(perm):
        affine[world_axis, stored_axis] = (-1 if flips[stored_axis] else 1) * zooms[stored_axis]
    affine[:3, 3] = [7.5, -3.0, 12.25]
    return affine


def blob_labels(shape, n_labels: int, rng: np.random.Generator, dtype=np.uint8) -> np.ndarray:
    """Random boxes and rings of labels, nested and touching."""
    lab = np.zeros(shape, dtype=dtype)
    for _ in range(3 * n_labels):
        v = rng.integers(1, n_labels + 1)
        lo = [rng.integers(0, max(1, s - 1)) for s in shape]
        hi = [min(s, l + rng.integers(1, max(2, s // 2 + 2))) for l, s in zip(lo, shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        lab[box] = v
        inner = tuple(slice(a + 1, b - 1) for a, b in zip(lo, hi))
        if all(b - a > 2 for a, b in zip(lo, hi)) and rng.random() < 0.5:
            lab[inner] = rng.integers(0, n_labels + 1)
    return lab


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def assert_output_equals_reference(out_dir: Path, record, ref: dict) -> None:
    """Every file the reference names exists with its pixels, and nothing else was written."""
    out_dir = Path(out_dir)
    assert record.images == ref["index"]
    for name, pixels in ref["images"].items():
        got = read_png(out_dir / name)
        assert got.dtype == np.uint8 and got.shape == pixels.shape, name
        np.testing.assert_array_equal(got, pixels, err_msg=name)
    for name, mask in ref["masks"].items():
        got = read_png(out_dir / name)
        assert got.ndim == 2 and got.dtype == np.uint8, name
        np.testing.assert_array_equal(got, mask.astype(np.uint8) * 255, err_msg=name)
    written = {str(p.relative_to(out_dir)) for p in out_dir.rglob("*.png")}
    assert written == set(ref["images"]) | set(ref["masks"])


def case_that_kills_its_worker(spec, out_dir, options):
    """A task for executors.run_local whose worker dies (SIGKILL) on the case named "doomed"."""
    import os
    import signal

    from samed2d_fast.executors import run_case

    if spec.case == "doomed":
        os.kill(os.getpid(), signal.SIGKILL)
    return run_case(spec, out_dir, options)
