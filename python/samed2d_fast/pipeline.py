"""convert_case: one case from its input files to written PNGs and a record.

    read -> normalise (whole volume, per channel) -> slice -> instances -> encode -> write
"""

from __future__ import annotations

import os
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import io
from .instances import instance_members, slice_instances_raw
from .classes import ClassTable
from .naming import (
    DIM_SLICE_2D,
    case_prefix,
    clean_field,
    dim_slice_id,
    image_path,
    image_stem,
    mask_path,
    mask_sort_key,
)
from .normalize import normalize, normalize_release
from .output import encode_png, inside, write_atomic
from .record import CaseRecord
from .slicing import iter_display_slices, kept_axes

NIFTI_SUFFIXES = (".nii.gz", ".nii")
NORMALIZATIONS = ("volume", "slice")


def case_name_of(path) -> str:
    """The file name without ``.nii.gz``/``.nii`` or its image extension."""
    name = os.path.basename(os.fspath(path))
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0]


def is_nifti(path) -> bool:
    return os.fspath(path).lower().endswith(NIFTI_SUFFIXES)


def _modalities(modality: Union[str, Sequence[str]], channels: int, source) -> List[str]:
    tags = [modality] * channels if isinstance(modality, str) else list(modality)
    if len(tags) != channels:
        raise ValueError(f"{source}: {channels} channel(s) but {len(tags)} modality tag(s) given")
    return [clean_field(t) for t in tags]


class _CaseWriter:
    """Writes one case's files, and removes them all again if the case fails."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        for sub in ("images", "masks"):
            (self.out_dir / sub).mkdir(parents=True, exist_ok=True)
        self.written: List[Path] = []

    def write(self, relative: str, data: bytes) -> None:
        path = inside(self.out_dir, relative)
        write_atomic(path, data)
        self.written.append(path)

    def discard(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)


def convert_case(
    image,
    label,
    out_dir,
    *,
    dataset: str,
    modality: Union[str, Sequence[str]],
    case: Optional[str] = None,
    class_names: Optional[Mapping[int, str]] = None,
    class_ids: Optional[Mapping[int, int]] = None,
    connectivity: int = 8,
    consolidate: str = "outer",
    keep_empty: bool = False,
    rgb: bool = False,
    binary: Optional[bool] = None,
    threads: int = 1,
    max_voxels: int = io.DEFAULT_MAX_VOXELS,
    normalization: str = "volume",
    class_map: Optional[Mapping[str, int]] = None,
    on_start: Optional[Callable[[List[str]], None]] = None,
) -> CaseRecord:
    """Converts one case (NIfTI 3D/4D, or a 2D image) into PNGs under ``out_dir``.

    Returns a CaseRecord of what was written. On any failure nothing of this
    case stays in ``out_dir`` and the error names the file and the cause.
    ``threads`` > 1 converts that many slices at once; the output is the same.
    A NIfTI header claiming more than ``max_voxels`` voxels is refused before
    anything is decoded. ``normalization="slice"`` is the release preset's
    per-slice formula (SPEC section 7) instead of the paper's per-volume one.
    ``class_map`` gives class ids by class name (a release class mapping).
    ``on_start`` is called before the first file is written with the prefixes
    (``{modality}--{dataset}--{case}--``) of every file the case may write.
    """
    paths = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    if not paths:
        raise ValueError("convert_case: no image file given")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    per_slice = normalization == "slice"
    table = ClassTable(class_names, class_ids, class_map)
    dataset_field = clean_field(dataset)
    case_field = clean_field(case if case is not None else case_name_of(paths[0]))
    if all(is_nifti(p) for p in paths) and is_nifti(label):
        images, labels, sources = _read_volume_case(paths, label, max_voxels, per_slice)
    elif len(paths) == 1 and not is_nifti(paths[0]) and not is_nifti(label):
        images, labels = _read_2d_case(paths[0], label, binary, per_slice)
        sources = paths
    else:
        raise io.InputError(f"{label}: image and label must both be NIfTI, or one 2D image and one 2D label")
    labels = _without_ignored(labels, table)
    modalities = _modalities(modality, len(images), paths[0])
    case_fields = [case_field] * len(images)
    if len(set(modalities)) < len(modalities):
        case_fields = [f"{case_field}_{c:04d}" for c in range(len(images))]

    if on_start is not None:
        on_start(sorted({case_prefix(m, dataset_field, c) for m, c in zip(modalities, case_fields)}))
    writer = _CaseWriter(Path(out_dir))
    record = CaseRecord(
        dataset=dataset_field,
        case=case_field,
        sources=tuple(os.fspath(p) for p in [*paths, label]),
        images={},
        mask_boxes={},
        classes={},
        declared=dict(table.declared),
        declared_max_id=table.declared_max_id,
    )

    def convert_slice(slice_id, image_slices, label_slice):
        """Encodes and writes one slice's image(s) and masks; returns what it wrote."""
        raw = slice_instances_raw(label_slice, connectivity, consolidate, with_components=False, with_pngs=True)
        if not raw["pngs"] and not keep_empty:
            return {}, {}, {}
        classes: Dict[str, str] = {}
        masks = _name_masks(raw, table, classes)
        boxes = [[int(a), *map(int, b)] for a, b in zip(raw["area"], raw["bbox"])]
        images: Dict[str, List[str]] = {}
        mask_boxes: Dict[str, List[List[int]]] = {}
        for c, pixels in enumerate(image_slices):
            stem = image_stem(modalities[c], dataset_field, case_fields[c], slice_id)
            if per_slice:
                pixels = _normalised(pixels, sources[c], normalize_release)
            if rgb and pixels.ndim == 2:
                pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
            writer.write(image_path(stem), encode_png(pixels))
            named = []
            for ((class_field, number), png), box in zip(masks, boxes):
                named.append((mask_path(stem, class_field, number), box))
                writer.write(named[-1][0], png)
            named.sort(key=lambda item: mask_sort_key(item[0]))
            images[image_path(stem)] = [name for name, _ in named]
            mask_boxes[image_path(stem)] = [box for _, box in named]
        return images, mask_boxes, classes

    try:
        for images_written, boxes_written, classes in _map_in_order(convert_slice, _slices(images, labels), threads):
            record.images.update(images_written)
            record.mask_boxes.update(boxes_written)
            record.classes.update(classes)
    except BaseException:
        writer.discard()
        raise
    return record


def _map_in_order(fn, items: Iterable[tuple], threads: int) -> Iterator:
    """``fn(*item)`` for each item, in order; with threads > 1 up to 2 * threads run at once.

    The kernels, zlib and file writes release the GIL, so slices overlap; the
    window bounds how many slices (and their batch copies) are alive at once.
    """
    if threads <= 1:
        for item in items:
            yield fn(*item)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        window: Deque[Future] = deque()
        try:
            for item in items:
                window.append(pool.submit(fn, *item))
                if len(window) >= 2 * threads:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
            wait(window)


def _name_masks(raw: dict, table: ClassTable, classes: Dict[str, str]):
    """((class field, instance number), PNG bytes) per instance, numbered per class in order."""
    counters: Counter = Counter()
    out = []
    for i, png in enumerate(raw["pngs"]):
        name, class_field = table.name_and_field(instance_members(raw, i), bool(raw["union"][i]))
        classes[name] = class_field
        out.append(((class_field, counters[class_field]), png))
        counters[class_field] += 1
    return out


def _normalised(values: np.ndarray, source, method=normalize) -> np.ndarray:
    try:
        return method(values)
    except ValueError as exc:
        raise io.InputError(f"{source}: {exc}") from None


def _read_volume_case(paths, label, max_voxels, per_slice: bool):
    """Channels as RAS+ views (normalised over their whole volume, or scaled float64
    values when each slice is normalised on its own), the RAS+ label map, and the
    source file of each channel. Every header is checked before any voxel is decoded.
    """
    headers = {p: io.load_nifti_header(p, max_voxels) for p in [*paths, label]}
    lab = io.label_volume(headers[label], label)
    images, sources = [], []
    for path in paths:
        vol = io.image_volume(headers[path], path, scaled=per_slice)
        io.check_same_grid(vol, lab)
        channels = [vol.data[..., c] for c in range(vol.data.shape[3])] if vol.data.ndim == 4 else [vol.data]
        for stored in channels:
            images.append(vol.ras(stored if per_slice else _normalised(stored, path)))
            sources.append(path)
    return images, lab.ras(), sources


def _read_2d_case(image, label, binary, per_slice: bool):
    pixels = io.read_2d_image(image)
    labels = io.read_2d_label(label, binary=binary)
    if labels.shape != pixels.shape[:2]:
        raise io.InputError(
            f"{label}: label size {labels.shape} differs from image size {pixels.shape[:2]} ({image})"
        )
    return [pixels if per_slice else _normalised(pixels, image)], labels


def _without_ignored(labels: np.ndarray, table: ClassTable) -> np.ndarray:
    if not table.ignored:
        return labels
    return np.where(np.isin(labels, table.ignored), 0, labels).astype(labels.dtype)


def _slices(images: List[np.ndarray], labels: np.ndarray):
    """(dim_slice_id, [image slice per channel], label slice) in SPEC order."""
    if labels.ndim == 2:
        yield DIM_SLICE_2D, images, labels
        return
    for axis in kept_axes(labels.shape):
        for index, (label_slice, *image_slices) in iter_display_slices([labels, *images], axis):
            yield dim_slice_id(axis, index, labels.shape[axis]), image_slices, label_slice
