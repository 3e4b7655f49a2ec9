"""Benchmark inputs, made in code (nothing is downloaded).

The CT case is the shared TotalSegmentator example (122x101x30, 41 classes) resampled
to the benchmark grid when ../shared is present, else the package's synthetic phantom
at that size. Both give an int16 CT, a uint8 label map and {label value: class name}.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

FULL_SHAPE = (512, 512, 300)
QUICK_SHAPE = (128, 128, 40)
TS_CASE = "totalsegmentator_ct"


@dataclass
class Case:
    image: np.ndarray          # int16, RAS+ (x, y, z)
    labels: np.ndarray         # uint8, same grid
    affine: np.ndarray
    class_names: dict
    source: str                # where the data came from, for the report

    @property
    def decoded_bytes(self) -> int:
        return self.image.nbytes + self.labels.nbytes


def default_workdir() -> Path:
    """tmpfs where there is one: on a shared VM disk, file creation times vary 5x between
    runs and would drown the converter's own time (compare.py --workdir times a disk)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def shared_data() -> Path | None:
    env = os.environ.get("SAMED2D_SHARED")
    root = Path(env) / "data" if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if (root / TS_CASE).is_dir() else None


def _class_names(dataset_json: Path) -> dict:
    labels = json.loads(dataset_json.read_text())["labels"]  # nnU-Net v2: {name: value}
    return {int(v): name for name, v in labels.items() if int(v) != 0}


def make_ct_case(shape=FULL_SHAPE) -> Case:
    root = shared_data()
    if root is None:
        from samed2d_fast.phantom import make_ct_phantom

        ct, labels, names = make_ct_phantom(shape=shape, seed=0)
        return Case(ct, labels, np.eye(4), names, f"phantom {shape}")
    folder = root / TS_CASE
    image = nib.load(folder / "imagesTr" / "example_0000.nii.gz")
    label = nib.load(folder / "labelsTr" / "example.nii.gz")
    ct = np.asanyarray(image.dataobj).astype(np.int16)
    lab = np.asanyarray(label.dataobj).astype(np.uint8)
    factors = np.divide(shape, ct.shape)
    # Linear for intensities; nearest for labels so that no new label values appear.
    ct = ndimage.zoom(ct, factors, order=1)
    lab = ndimage.zoom(lab, factors, order=0)
    affine = image.affine @ np.diag([*(1 / factors), 1.0])
    return Case(ct, lab, affine, _class_names(folder / "dataset.json"), f"{TS_CASE} resampled to {shape}")


def write_nifti_case(case: Case, folder: Path) -> tuple[Path, Path]:
    """The case as nnU-Net-style .nii.gz files, as users have them."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path, label_path = folder / "bench_0000.nii.gz", folder / "bench.nii.gz"
    nib.save(nib.Nifti1Image(case.image, case.affine), image_path)
    nib.save(nib.Nifti1Image(case.labels, case.affine), label_path)
    return image_path, label_path


def label_slices(labels: np.ndarray, step: int = 5) -> list[np.ndarray]:
    """Every ``step``-th z slice in display orientation (SPEC 3), contiguous."""
    return [np.ascontiguousarray(labels[:, :, k].T[::-1, ::-1]) for k in range(0, labels.shape[2], step)]


def float_volume(image: np.ndarray) -> np.ndarray:
    """A float32 volume of the same grid with a few NaN/Inf (normalisation maps them to 0)."""
    out = image.astype(np.float32) * np.float32(0.37) + np.float32(0.125)
    out.flat[:: 100_003] = np.nan
    out.flat[7:: 1_000_003] = np.inf
    return out
