"""What a case would give and need, from file headers only: no voxel is decoded."""

from __future__ import annotations

import os

import nibabel as nib
from PIL import Image

from .datasets import CaseSpec
from .io import DEFAULT_MAX_VOXELS, load_nifti_header, reads_stored_integers
from .pipeline import is_nifti
from .slicing import kept_axes


def _nifti_shape(path) -> tuple:
    try:
        shape = tuple(nib.load(str(path)).shape)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable NIfTI header ({exc})") from None
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape + (1,) * (3 - len(shape))


def case_slices(spec: CaseSpec) -> str:
    """A one-line description: grid, channels and slices per axis that pass the aspect filter."""
    if not is_nifti(spec.label):
        with Image.open(spec.images[0]) as im, Image.open(spec.label) as lab:
            if im.size != lab.size:
                raise ValueError(f"{spec.label}: size {lab.size} differs from the image's {im.size}")
            return f"2D {im.size[0]}x{im.size[1]} {im.mode}: 1 slice"
    label_shape = _nifti_shape(spec.label)
    if len(label_shape) != 3:
        raise ValueError(f"{spec.label}: a label map must be 3D, got {label_shape}")
    channels = 0
    for path in spec.images:
        shape = _nifti_shape(path)
        if shape[:3] != label_shape:
            raise ValueError(f"{path}: grid {shape[:3]} differs from the label's {label_shape}")
        channels += shape[3] if len(shape) == 4 else 1
    per_axis = {name: 0 for name in "xyz"}
    for axis in kept_axes(label_shape):
        per_axis["xyz"[axis]] = label_shape[axis]
    total = sum(per_axis.values())
    axes = " ".join(f"{a}={n}" for a, n in per_axis.items())
    return f"grid {label_shape}, {channels} channel(s): {total} slices ({axes}) x {channels} images at most"


# Peak memory of a case is about this multiple of its decoded image and labels
# (stored arrays, the normalised copy, slice batches; measured in bench/).
PEAK_FACTOR = 3


def decoded_bytes(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS) -> int:
    """Bytes of a case's decoded image channels and label map, from headers alone
    (raises InputError for a header the case itself would refuse)."""
    total = 0
    for path, is_label in [*((p, False) for p in spec.images), (spec.label, True)]:
        if is_nifti(path):
            img = load_nifti_header(path, max_voxels)
            itemsize = img.get_data_dtype().itemsize if reads_stored_integers(img, is_label) else 8
            voxels = 1
            for n in img.shape:
                voxels *= int(n)
            total += voxels * itemsize
        else:
            with Image.open(path) as im:
                total += im.size[0] * im.size[1] * max(len(im.getbands()), 1) * 4
    return total


def available_memory() -> int:
    """Bytes of memory available to new work (Linux MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
