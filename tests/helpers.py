"""Test helpers: making NIfTI and 2D cases, and comparing written output with the reference."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Tuple

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


def write_nnunet_folder(root: Path, n_cases: int, seed: int = 0, shape=(20, 18, 24)) -> Path:
    """A small nnU-Net v2 raw data set of synthetic cases (CT channel, three named classes)."""
    import json

    rng = np.random.default_rng(seed)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(n_cases):
        image = rng.normal(0, 200, shape).astype(np.int16)
        save_nifti(root / "imagesTr" / f"case{i:02d}_0000.nii.gz", image)
        save_nifti(root / "labelsTr" / f"case{i:02d}.nii.gz", blob_labels(shape, 3, rng))
    labels = {"background": 0, "kidney": 1, "tumour": 2, "cyst": 3}
    (root / "dataset.json").write_text(json.dumps({"name": root.name, "channel_names": {"0": "CT"},
                                                   "labels": labels, "file_ending": ".nii.gz"}))
    return root


# Not output: lock files (and the stale ones a resumed run took over) depend on who ran when.
LOCKS = ".samed2d/locks"


def tree_bytes(root: Path, skip=(LOCKS,)) -> dict:
    """Every file under root (relative path -> bytes), but those under the ``skip`` paths."""
    files = {str(p.relative_to(root)): p for p in sorted(Path(root).rglob("*")) if p.is_file()}
    return {name: p.read_bytes() for name, p in files.items()
            if not any(name == s or name.startswith(s + "/") for s in skip)}


def kill_worker_on_first_try(spec, out_dir, options):
    """A task whose first attempt at case01 kills its worker (a marker file remembers it)."""
    import os
    import signal

    from samed2d_fast.executors import run_case

    marker = Path(out_dir).parent / f"killed-{spec.case}"
    if spec.case == "case01" and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_case(spec, out_dir, options)


def run_cli(*argv) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``samed2d ARGV`` in this process."""
    from samed2d_fast import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def forbid_decoding(monkeypatch):
    """From here on, any read of voxel or pixel data raises."""
    import nibabel.arrayproxy
    import PIL.ImageFile

    def forbidden(*args, **kwargs):
        raise AssertionError("the dry run decoded image data")

    for name in ("__array__", "get_unscaled", "__getitem__"):
        monkeypatch.setattr(nibabel.arrayproxy.ArrayProxy, name, forbidden)
    monkeypatch.setattr(PIL.ImageFile.ImageFile, "load", forbidden)
    monkeypatch.setattr(nib.Nifti1Image, "get_fdata", forbidden)
