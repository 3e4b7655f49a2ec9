"""What a case would give and need, from file headers and sizes only: no voxel is decoded."""

from __future__ import annotations

import os

from .inputs import DEFAULT_MAX_VOXELS, CaseSpec, case_headers, read_header
from .naming import modality_fields
from .slicing import kept_axes


def check_case(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS) -> str:
    """Makes every check of the run that headers and file sizes can decide, with the run's
    messages (the first problem raises, as the case would fail): the files, the headers
    (voxel type, ``--max-voxels``), the file sizes, grids, affines, channels against
    modality tags, 2D sizes, DICOM series (one series, even spacing, one rescale).
    Describes the case in one line: grid, channels and slices per axis that pass the
    aspect filter.

    Not seen here: a truncated or corrupt compressed file (only decompressing finds it)
    and what the voxels hold (label values, NaN, an RGB label whose channels differ,
    overlapping classes of a label set)."""
    headers = case_headers(spec, max_voxels)
    channels = headers.channels
    modality_fields(spec.modality_arg(), channels, spec.images[0])
    kind = headers.images[0].description
    described = f"{kind}: " if kind else ""
    if not headers.is_volume:
        return f"{described or '2D '}1 slice"
    shape = headers.images[0].volume().ras().shape[:3]
    per_axis = {name: 0 for name in "xyz"}
    for axis in kept_axes(shape):
        per_axis["xyz"[axis]] = shape[axis]
    total = sum(per_axis.values())
    axes = " ".join(f"{a}={n}" for a, n in per_axis.items())
    return f"{described}grid {shape}, {channels} channel(s): {total} slices ({axes}) x {channels} images at most"


# Peak memory of a case is about this multiple of its decoded image and labels
# (stored arrays, the normalised copy, slice batches; measured in bench/).
PEAK_FACTOR = 3


def decoded_bytes(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS, scaled: bool = False) -> int:
    """Bytes of a case's decoded image channels and label map, from headers alone
    (raises InputError for a file or header the case itself would refuse). ``scaled``:
    images are read as scaled float64 values (the release preset's per-slice formula).
    A label set counts its painted map and one class file at a time."""
    total = sum(read_header(p, max_voxels, spec.series).decoded_bytes(is_label=False, scaled=scaled)
                for p in spec.images)
    labels = [read_header(p, max_voxels).decoded_bytes(is_label=True, scaled=False) for _, p in spec.label_files]
    return total + (2 * max(labels) if spec.is_label_set else labels[0])


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
