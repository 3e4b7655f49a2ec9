"""convert_case: one case from its input files to written PNGs and a record.

    read (inputs/) -> normalise (whole volume, per channel) -> slice -> instances -> encode -> write
"""

from __future__ import annotations

import os
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from .classes import ClassTable
from .inputs import CaseSpec, InputError, case_headers, case_name_of, label_set, read_case
from .inputs.files import DEFAULT_MAX_VOXELS
from .instances import instance_members, slice_instances_raw
from .naming import (
    DIM_SLICE_2D,
    case_prefix,
    clean_field,
    dim_slice_id,
    image_path,
    image_stem,
    mask_path,
    mask_sort_key,
    modality_fields,
)
from .normalize import normalize, normalize_release
from .options import Options
from .output import encode_png, inside, write_atomic
from .record import CaseRecord
from .slicing import iter_display_slices, kept_axes


class _CaseWriter:
    """Writes one case's files, and removes them all again if the case fails."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        for sub in ("images", "masks"):
            (self.out_dir / sub).mkdir(parents=True, exist_ok=True)
        self.written: List[str] = []

    def write(self, relative: str, data: bytes) -> None:
        path = inside(self.out_dir, relative)
        write_atomic(path, data)
        self.written.append(path)

    def discard(self) -> None:
        for path in self.written:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


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
    max_voxels: int = DEFAULT_MAX_VOXELS,
    normalization: str = "volume",
    class_map: Optional[Mapping[str, int]] = None,
    overlap: str = "error",
    unnamed: str = "label",
    series: Optional[str] = None,
    on_start: Optional[Callable[[List[str]], None]] = None,
) -> CaseRecord:
    """Converts one case into PNGs under ``out_dir`` and returns a CaseRecord of what was written.

    ``image``: a file (NIfTI, Analyze, MetaImage, NRRD, DICOM, a 2D image), a DICOM series
    folder, or a list of them (channels); ``series`` picks one series of a folder holding
    several. ``label``: a label map in any of these formats, or a label set: a mapping
    {class name: file or files} of binary masks (SPEC section 8), whose overlapping classes
    fail the case unless ``overlap="separate"``. On any failure nothing of this case stays
    in ``out_dir`` and the error names the file and the cause. ``threads`` > 1 converts
    that many slices at once; the output is the same. A header claiming more than
    ``max_voxels`` voxels is refused before anything is decoded. ``normalization="slice"``
    is the release preset's per-slice formula (SPEC section 7). ``class_map`` gives class
    ids by class name (a release class mapping). ``unnamed="unknown"`` calls label values
    without a name as the release does (SPEC section 7). ``on_start`` is called before the first
    file is written with the prefixes (``{modality}--{dataset}--{case}--``) of every file
    the case may write.
    """
    paths = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    if not paths:
        raise ValueError("convert_case: no image file given")
    labels = label_set(label) if isinstance(label, Mapping) else os.fspath(label)
    spec = CaseSpec(dataset, case if case is not None else case_name_of(paths[0]), tuple(map(os.fspath, paths)),
                    labels, (modality,) if isinstance(modality, str) else tuple(modality), dict(class_names or {}),
                    binary, series)
    options = Options(connectivity=connectivity, consolidate=consolidate, keep_empty=keep_empty, rgb=rgb,
                      threads=threads, max_voxels=max_voxels, normalization=normalization, overlap=overlap,
                      unnamed=unnamed, class_map=None if class_map is None else {dataset: dict(class_map)})
    return convert_spec(spec, out_dir, options, class_ids=class_ids, on_start=on_start)


def convert_spec(spec: CaseSpec, out_dir, options: Options, *, class_ids: Optional[Mapping[int, int]] = None,
                 on_start: Optional[Callable[[List[str]], None]] = None) -> CaseRecord:
    """``convert_case`` for a CaseSpec and the run's Options."""
    per_slice = options.normalization == "slice"
    dataset_field, case_field = clean_field(spec.dataset), clean_field(spec.case)
    headers = case_headers(spec, options.max_voxels)
    modalities = modality_fields(spec.modality_arg(), headers.channels, spec.images[0])
    arrays = read_case(spec, headers, scaled=per_slice, threads=options.threads, overlap=options.overlap)
    declared_names = set(spec.class_names.values())
    table = ClassTable(spec.class_names, class_ids, options.class_map_of(spec.dataset),
                       {v: n for n, v in arrays.set_values.items() if n not in declared_names}, options.unnamed)
    images = [c.ras(c.data if per_slice else _normalised(c.data, c.path)) for c in arrays.channels]
    sources = [c.path for c in arrays.channels]
    scalings = [c.scaling for c in arrays.channels]
    if arrays.separate is None:
        label_arrays, values = [_without_ignored(arrays.label, table)], None
    else:
        kept = [(v, m) for v, m in arrays.separate if v not in table.ignored]
        label_arrays, values = [m for _, m in kept], [v for v, _ in kept]
        if not kept:  # every class ignored: slices without masks
            label_arrays, values = [np.zeros(arrays.separate[0][1].shape, dtype=np.uint8)], None
    case_fields = [case_field] * len(images)
    if len(set(modalities)) < len(modalities):
        case_fields = [f"{case_field}_{c:04d}" for c in range(len(images))]

    prefixes = sorted({case_prefix(m, dataset_field, c) for m, c in zip(modalities, case_fields)})
    if on_start is not None:
        on_start(prefixes)
    writer = _CaseWriter(Path(out_dir))
    record = CaseRecord(
        dataset=dataset_field,
        case=case_field,
        prefixes=prefixes,
        sources=tuple(spec.sources),
        images={},
        mask_boxes={},
        classes={},
        declared=dict(table.declared),
        declared_max_id=table.declared_max_id,
    )

    def convert_slice(slice_id, image_slices, label_slices):
        """Encodes and writes one slice's image(s) and masks; returns what it wrote."""
        classes: Dict[str, str] = {}
        if values is None:
            masks, boxes = _slice_masks(label_slices[0], options, table, classes)
        else:
            masks, boxes = _separate_slice_masks(label_slices, values, options, table, classes)
        if not masks and not options.keep_empty:
            return {}, {}, {}
        images: Dict[str, List[str]] = {}
        mask_boxes: Dict[str, List[List[int]]] = {}
        for c, pixels in enumerate(image_slices):
            stem = image_stem(modalities[c], dataset_field, case_fields[c], slice_id)
            if per_slice:
                slope, inter = scalings[c]
                pixels = _normalised(pixels, sources[c], lambda p: normalize_release(p, slope, inter))
            writer.write(image_path(stem), encode_png(pixels, grey_as_rgb=options.rgb and pixels.ndim == 2))
            named = []
            for ((class_field, number), png), box in zip(masks, boxes):
                named.append((mask_path(stem, class_field, number), box))
                writer.write(named[-1][0], png)
            named.sort(key=lambda item: mask_sort_key(item[0]))
            images[image_path(stem)] = [name for name, _ in named]
            mask_boxes[image_path(stem)] = [box for _, box in named]
        return images, mask_boxes, classes

    try:
        for images_written, boxes_written, classes in _map_in_order(
                convert_slice, _slices(images, label_arrays), options.threads):
            record.images.update(images_written)
            record.mask_boxes.update(boxes_written)
            record.classes.update(classes)
    except BaseException:
        writer.discard()
        raise
    record.unnamed = sorted(table.unnamed_values)
    record.sole_unknown = dict(sorted(table.sole_unknown.items()))
    return record


def _slice_masks(label_slice: np.ndarray, options: Options, table: ClassTable, classes: Dict[str, str]):
    """((class field, instance number), PNG) and [area, box] of each mask of a label slice."""
    raw = slice_instances_raw(label_slice, options.connectivity, options.consolidate,
                              with_components=False, with_pngs=True)
    masks = _name_masks(raw, table, classes)
    return masks, [[int(a), *map(int, b)] for a, b in zip(raw["area"], raw["bbox"])]


def _separate_slice_masks(mask_slices: Sequence[np.ndarray], values: Sequence[int], options: Options,
                          table: ClassTable, classes: Dict[str, str]):
    """The masks of a slice whose classes are converted separately (SPEC section 8): each
    class as a label map of its own, consolidation off; the slice's masks ordered by the
    lowest row-major index of their component, ties by class value, numbered per class."""
    found = []
    for value, mask in zip(values, mask_slices):
        if not mask.any():
            continue
        labels = mask.astype(np.min_scalar_type(value)) * value
        raw = slice_instances_raw(labels, options.connectivity, "off", with_components=True, with_pngs=True)
        offsets, members = raw["member_offsets"], raw["member_components"]
        for i, png in enumerate(raw["pngs"]):
            r0, c0, _, c1 = (int(v) for v in raw["bbox"][i])
            row = np.isin(raw["components"][r0, c0:c1], members[offsets[i]:offsets[i + 1]])
            first = r0 * mask.shape[1] + c0 + int(np.argmax(row))
            found.append((first, value, png, [int(raw["area"][i]), *map(int, raw["bbox"][i])]))
    found.sort(key=lambda item: (item[0], item[1]))
    counters: Counter = Counter()
    masks, boxes = [], []
    for _, value, png, box in found:
        name, class_field = table.name_and_field([value], False)
        classes[name] = class_field
        masks.append(((class_field, counters[class_field]), png))
        boxes.append(box)
        counters[class_field] += 1
    return masks, boxes


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
        raise InputError(f"{source}: {exc}") from None


def _without_ignored(labels: np.ndarray, table: ClassTable) -> np.ndarray:
    if not table.ignored:
        return labels
    return np.where(np.isin(labels, table.ignored), 0, labels).astype(labels.dtype)


def _slices(images: List[np.ndarray], labels: List[np.ndarray]):
    """(dim_slice_id, [image slice per channel], [label slice per label array]) in SPEC order."""
    if labels[0].ndim == 2:
        yield DIM_SLICE_2D, images, labels
        return
    for axis in kept_axes(labels[0].shape):
        for index, slices in iter_display_slices([*labels, *images], axis):
            yield dim_slice_id(axis, index, labels[0].shape[axis]), slices[len(labels):], slices[:len(labels)]
