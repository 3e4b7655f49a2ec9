"""What a case would give and need, from file headers and sizes only: no voxel is decoded."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from . import io
from .datasets import CaseSpec
from .io import DEFAULT_MAX_VOXELS, load_nifti_header, reads_stored_integers
from .pipeline import _modalities, is_nifti
from .slicing import kept_axes


def check_case(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS) -> str:
    """Makes every check of the run that headers and file sizes can decide, with the run's
    messages (the first problem raises, as the case would fail): the files, the headers
    (voxel type, ``--max-voxels``), the file sizes, grids, affines, channels against
    modality tags, 2D sizes. Describes the case in one line: grid, channels and slices per
    axis that pass the aspect filter.

    Not seen here: a truncated or corrupt ``.nii.gz`` (only decompressing finds it) and
    what the voxels hold (label values, NaN, an RGB label whose channels differ)."""
    if all(is_nifti(p) for p in spec.images) and is_nifti(spec.label):
        return _check_volume_case(spec, max_voxels)
    if len(spec.images) == 1 and not is_nifti(spec.images[0]) and not is_nifti(spec.label):
        return _check_2d_case(spec)
    raise io.InputError(f"{spec.label}: image and label must both be NIfTI, or one 2D image and one 2D label")


def _check_volume_case(spec: CaseSpec, max_voxels: int) -> str:
    headers = {p: load_nifti_header(p, max_voxels) for p in [*spec.images, spec.label]}
    label = _header_volume(headers[spec.label], spec.label, is_label=True)
    channels = 0
    for path in spec.images:
        image = _header_volume(headers[path], path, is_label=False)
        io.check_same_grid(image, label)
        channels += image.data.shape[3] if image.data.ndim == 4 else 1
    _modalities(spec.modality_arg(), channels, spec.images[0])
    shape = label.ras().shape
    per_axis = {name: 0 for name in "xyz"}
    for axis in kept_axes(shape):
        per_axis["xyz"[axis]] = shape[axis]
    total = sum(per_axis.values())
    axes = " ".join(f"{a}={n}" for a, n in per_axis.items())
    return f"grid {shape}, {channels} channel(s): {total} slices ({axes}) x {channels} images at most"


def _header_volume(img, path, is_label: bool) -> io.Volume:
    """The Volume the run builds (RAS+ orientation and affine, the same shape rules), with
    a zero-stride array of the header's shape instead of the voxels."""
    io.check_uncompressed_size(img, path)
    data = io._squeeze_to_3d_or_4d(np.broadcast_to(np.uint8(0), tuple(img.shape)), path)
    if is_label and data.ndim != 3:
        raise io.InputError(f"{path}: a label map must be 3D, got shape {data.shape}")
    return io._volume(img, data, path)


def _check_2d_case(spec: CaseSpec) -> str:
    image, label = spec.images[0], spec.label
    with _open_2d_header(image) as im, _open_2d_header(label) as lab:
        image_shape, label_shape = im.size[::-1], lab.size[::-1]
        if label_shape != image_shape:
            raise io.InputError(f"{label}: label size {label_shape} differs from image size {image_shape} ({image})")
        _modalities(spec.modality_arg(), 1, image)
        return f"2D {im.size[0]}x{im.size[1]} {im.mode}: 1 slice"


def _open_2d_header(path) -> Image.Image:
    """The image with its header read (Pillow decodes nothing before ``load``)."""
    io.check_file(path)
    try:
        return Image.open(os.fspath(path))
    except Exception as exc:  # Pillow raises many kinds for a broken file
        raise io.InputError(f"{path}: not a readable image ({io._one_line(exc)})") from None


# Peak memory of a case is about this multiple of its decoded image and labels
# (stored arrays, the normalised copy, slice batches; measured in bench/).
PEAK_FACTOR = 3


def decoded_bytes(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS, scaled: bool = False) -> int:
    """Bytes of a case's decoded image channels and label map, from headers alone
    (raises InputError for a file or header the case itself would refuse). ``scaled``:
    images are read as scaled float64 values (the release preset's per-slice formula)."""
    total = 0
    for path, is_label in [*((p, False) for p in spec.images), (spec.label, True)]:
        if is_nifti(path):
            img = load_nifti_header(path, max_voxels)
            stored = reads_stored_integers(img, is_label) and (is_label or not scaled)
            itemsize = img.get_data_dtype().itemsize if stored else 8
            voxels = 1
            for n in img.shape:
                voxels *= int(n)
            total += voxels * itemsize
        else:
            io.check_file(path)  # a FIFO would block the planner
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
