"""One case's inputs: what it is (``CaseSpec``), its headers checked against each other
(``case_headers``, nothing decoded), and its arrays (``read_case``), whatever formats its
image channels and label come in. Normalising is the pipeline's, not the readers'."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from nibabel.orientations import apply_orientation

from ..naming import clean_field
from .base import Header
from .files import DEFAULT_MAX_VOXELS, InputError
from .label_sets import OVERLAPS, class_values, overlap_error, paint, separate
from .labels import validate_labels
from .registry import read_header
from .volume import Volume, check_label_volume, check_same_grid, make_volume

LabelSet = Mapping[str, Union[str, Sequence[str]]]


def case_key(dataset: str, case: str) -> str:
    """The key of a case in OUT's state and in failures.json."""
    return f"{clean_field(dataset)}--{clean_field(case)}"


@dataclass
class CaseSpec:
    """One case to convert: inputs, names and options that vary per data set. ``label`` is
    one label map, or a label set: class name -> its mask files."""

    dataset: str
    case: str
    images: Tuple[str, ...]
    label: Union[str, Dict[str, Tuple[str, ...]]]
    modality: Tuple[str, ...]           # one tag per channel (or one tag for all)
    class_names: Dict[int, str] = field(default_factory=dict)
    binary: Optional[bool] = None
    series: Optional[str] = None        # the DICOM series of an image folder holding several

    @property
    def key(self) -> str:
        return case_key(self.dataset, self.case)

    def modality_arg(self):
        return self.modality[0] if len(self.modality) == 1 else list(self.modality)

    @property
    def is_label_set(self) -> bool:
        return not isinstance(self.label, str)

    @property
    def label_files(self) -> List[Tuple[str, str]]:
        """(class name, file) of every label file, in sorted class name order ("" for a map)."""
        if not self.is_label_set:
            return [("", self.label)]
        return [(name, path) for name in sorted(self.label) for path in self.label[name]]

    @property
    def sources(self) -> List[str]:
        """The image channels, then the label files in sorted class name order."""
        return [*self.images, *(path for _, path in self.label_files)]


def label_set(label: LabelSet) -> Dict[str, Tuple[str, ...]]:
    """A label set in CaseSpec's form: every class with a tuple of its files."""
    out = {}
    for name, paths in label.items():
        files = (paths,) if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__") else tuple(paths)
        if not files:
            raise ValueError(f"label set: class {name!r} has no file")
        out[str(name)] = tuple(str(p) for p in files)
    if not out:
        raise ValueError("label set: no class given")
    return out


@dataclass
class CaseHeaders:
    """Every header of a case, checked against each other."""

    images: List[Header]
    labels: List[Header]          # in the order of CaseSpec.label_files

    @property
    def is_volume(self) -> bool:
        return self.images[0].is_volume

    @property
    def channels(self) -> int:
        return sum(h.volume().channels for h in self.images) if self.is_volume else 1


def case_headers(spec: CaseSpec, max_voxels: int = DEFAULT_MAX_VOXELS) -> CaseHeaders:
    """Reads and checks every header of a case, as the run would, before anything is
    decoded: the kinds agree (volumes, or one 2D image), grids and 2D sizes match."""
    images = [read_header(p, max_voxels, spec.series) for p in spec.images]
    labels = [read_header(p, max_voxels) for _, p in spec.label_files]
    for header in [*images, *labels]:
        header.fmt.check_data(header)
    if any(h.is_volume != images[0].is_volume for h in images):
        raise InputError(f"{spec.images[0]}: a case's image channels must all be volumes or all 2D")
    if not images[0].is_volume and len(images) != 1:
        raise InputError(f"{spec.images[0]}: a 2D case has one image file, got {len(images)}")
    for header in labels:
        if header.is_volume != images[0].is_volume:
            kinds = ("volume", "2D image") if header.is_volume else ("2D image", "volume")
            raise InputError(f"{header.path}: the label is a {kinds[0]}, the image a {kinds[1]} ({spec.images[0]})")
        if header.is_volume:
            volume = header.volume()
            check_label_volume(volume)
            for image in images:
                check_same_grid(image.volume(), volume)
        else:
            check_same_size(header.shape[:2], images[0].shape[:2], header.path, images[0].path)
    return CaseHeaders(images, labels)


def check_same_size(label_shape, image_shape, label, image) -> None:
    if tuple(label_shape) != tuple(image_shape):
        raise InputError(f"{label}: label size {tuple(label_shape)} differs from image size {tuple(image_shape)} "
                         f"({image})")


@dataclass
class Channel:
    """One image channel as read: stored values, and its volume's orientation (None in 2D)."""

    path: str
    data: np.ndarray
    volume: Optional[Volume]
    scaling: Tuple[float, float] = (1.0, 0.0)  # the release preset's values: data * slope + inter

    def ras(self, array: np.ndarray) -> np.ndarray:
        """``array`` (the data, or values computed from it) in RAS+ orientation, as a view."""
        return array if self.volume is None else self.volume.ras(array)


@dataclass
class CaseArrays:
    """A case's arrays: the channels, and the label map (RAS+ for a volume) or, for a label
    set whose classes overlap, converted with overlap ``separate``, one (class value, mask)
    per class."""

    channels: List[Channel]
    label: Optional[np.ndarray]
    separate: Optional[List[Tuple[int, np.ndarray]]]
    set_values: Dict[str, int]    # class name -> value, for a label set


def _read_channels(headers: CaseHeaders, scaled: bool) -> List[Channel]:
    channels: List[Channel] = []
    for header in headers.images:
        if scaled:
            values, *scaling = header.fmt.release_values(header)
        else:
            values, scaling = header.fmt.read(header, label=False, scaled=False), (1.0, 0.0)
        if header.is_volume:
            volume = make_volume(values, header.affine, header.path)
            stored = [volume.data[..., c] for c in range(volume.channels)] if volume.data.ndim == 4 else [volume.data]
            channels.extend(Channel(header.path, data, volume, tuple(scaling)) for data in stored)
        else:
            channels.append(Channel(header.path, values, None, tuple(scaling)))
    return channels


def read_case(spec: CaseSpec, headers: CaseHeaders, *, scaled: bool = False, threads: int = 1,
              overlap: str = "error") -> CaseArrays:
    """The arrays of a case whose headers ``case_headers`` checked. ``scaled``: images for
    the release preset, whose values are each channel's ``data * slope + inter``
    (``Channel.scaling``). ``threads``: label set files decompressed at once; above 1,
    a single label map is decoded while the images are read."""
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
    header_of = {h.path: h for h in headers.labels}

    def decode_class_file(path: str) -> Tuple[np.ndarray, Optional[Volume]]:
        """A label file's values as stored, and its volume (None in 2D), not yet checked
        against the image's grid nor by the label rules."""
        header = header_of[path]
        if not header.is_volume:
            return header.fmt.read_label_2d(header, spec.binary if not spec.is_label_set else None), None
        volume = make_volume(header.fmt.read(header, label=True, scaled=False), header.affine, header.path)
        check_label_volume(volume)
        return volume.data, volume

    def on_image_grid(decoded: Tuple[np.ndarray, Optional[Volume]]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """A decoded label file checked against every channel's grid: its values and its
        orientation (None in 2D)."""
        data, volume = decoded
        if volume is None:
            return data, None
        for channel in channels:
            check_same_grid(channel.volume, volume)
        return data, volume.ornt

    def read_class_file(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        return on_image_grid(decode_class_file(path))

    channels: List[Channel]
    label_map = None
    with ThreadPoolExecutor(1) if threads > 1 and not spec.is_label_set else nullcontext() as pool:
        if pool is not None:  # one label map: decoded while the images are (inflating lets go of the GIL)
            label_map = pool.submit(decode_class_file, spec.label)
        channels = _read_channels(headers, scaled)
    if not spec.is_label_set:
        data, ornt = on_image_grid(label_map.result() if label_map is not None else decode_class_file(spec.label))
        labels = validate_labels(data, spec.label)
        return CaseArrays(channels, labels if ornt is None else apply_orientation(labels, ornt), None, {})

    def stream_class_file(path: str):
        """A class file's values piece by piece, its orientation and shape, where its format
        gives them so (see Format.stream_label), on the image's grid; else None."""
        header = header_of[path]
        if not header.is_volume:
            return None
        volume = header.volume()
        check_label_volume(volume)
        for channel in channels:
            check_same_grid(channel.volume, volume)
        pieces = header.fmt.stream_label(header)
        return None if pieces is None else (pieces, volume.ornt, volume.data.shape)

    def read_mask(path: str) -> np.ndarray:
        """A class file's voxels that are not 0, RAS+."""
        data, ornt = read_class_file(path)
        mask = validate_labels(data, path) != 0
        return mask if ornt is None else apply_orientation(mask, ornt)

    files = spec.label_files
    values = class_values([name for name, _ in files], spec.class_names)
    labels, overlapping = paint(files, values, read_class_file, threads, stream_class_file)
    if not overlapping:
        return CaseArrays(channels, labels, None, values)
    if overlap == "error":
        raise overlap_error(files, values, read_mask, threads)
    return CaseArrays(channels, None, separate(files, values, read_mask, threads), values)
