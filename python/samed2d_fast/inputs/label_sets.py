"""Label sets (SPEC section 8): one binary mask file per class instead of one label map
(TotalSegmentator's ``segmentations/liver.nii.gz``, BUSI's ``case (1)_mask.png``).

A voxel is inside a file's mask where its label value is not 0; files of one class are
united. Declared class names keep their values; undeclared ones follow every declared
value in ``sorted()`` order. Without overlaps the masks are painted into one label map,
which converts exactly as a map would; with overlaps the case fails naming the pair of
smallest values, unless each class is to be converted on its own (``separate``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Callable, Dict, Iterator, List, Mapping, Sequence, Tuple

import numpy as np

from nibabel import orientations

from .. import _core
from .files import InputError
from .labels import MAX_LABEL, check_label_range, validate_labels

OVERLAPS = ("error", "separate")


def class_values(names: Sequence[str], class_names: Mapping[int, str]) -> Dict[str, int]:
    """The label value of each class name of a set: its declared value, or one after every
    declared value, in sorted() order of the undeclared names."""
    declared = {str(name): int(value) for value, name in class_names.items()}
    start = max([0, *declared.values()]) + 1
    undeclared = sorted(n for n in set(names) if n not in declared)
    values = {n: declared[n] for n in names if n in declared}
    values.update({n: start + i for i, n in enumerate(undeclared)})
    return values


def _each(read: Callable[[str], object], files: Sequence[Tuple[str, str]], threads: int) -> Iterator:
    """``read(path)`` of every file, in order; ``threads`` files are decompressed at once.
    When the caller stops early (a file failed), the files not yet started are dropped."""
    paths = [path for _, path in files]
    if threads <= 1:
        yield from map(read, paths)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(read, path) for path in paths]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _memory_order(array: np.ndarray) -> str:
    return "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"


def paint(files: Sequence[Tuple[str, str]], values: Mapping[str, int], read_class_file, threads: int,
          stream_class_file=None) -> Tuple[np.ndarray, bool]:
    """The label map of a set (RAS+ for volumes), and whether some voxel is inside two
    classes' masks. ``read_class_file(path)`` gives a file's stored values and orientation
    (None in 2D). With more than one thread, whole files are decompressed that many at a
    time; with one, a file that ``stream_class_file(path)`` gives piece by piece (values in
    Fortran order, orientation, shape) is painted a piece at a time as it is inflated,
    while each piece is in the cache, and no array of the file is made."""
    top = max([1, *values.values()])
    if top > MAX_LABEL:
        raise InputError(f"{files[0][1]}: class value {top} above 2^32-1 (from the declared class names)")
    canvas = _Canvas(np.min_scalar_type(top))
    if threads > 1:
        for (name, path), (data, file_ornt) in zip(files, _each(read_class_file, files, threads)):
            canvas.paint_file(data, file_ornt, values[name], path)
    else:
        for name, path in files:
            pieces = canvas.pieces_of(stream_class_file, path)
            if pieces is None:
                canvas.paint_file(*read_class_file(path), values[name], path)
            else:
                canvas.paint_pieces(pieces, values[name], path)
    return canvas.ras(), canvas.overlaps > 0


class _Canvas:
    """The label map being painted, in the stored layout of the first class file, by the
    C++ kernel, which also checks the label rules in its one pass over each file."""

    def __init__(self, dtype: np.dtype):
        self.dtype, self.labels, self.ornt, self.overlaps = dtype, None, None, 0

    def paint_file(self, data: np.ndarray, file_ornt, value: int, path) -> None:
        if self.labels is None:
            self.labels, self.ornt = np.zeros(data.shape, dtype=self.dtype, order=_memory_order(data)), file_ornt
        mask = _in_layout(data, file_ornt, self.ornt, self.labels, path)
        self._count(_core.paint_mask(mask, self.labels, value), path)

    def pieces_of(self, stream_class_file, path):
        """The file's values piece by piece when they come in the map's layout, else None."""
        if stream_class_file is None or self.labels is None or not self.labels.flags.f_contiguous:
            return None
        streamed = stream_class_file(path)
        if streamed is None:
            return None
        pieces, file_ornt, shape = streamed
        if tuple(shape) != self.labels.shape or not np.array_equal(file_ornt, self.ornt):
            pieces.close()
            return None
        return pieces

    def paint_pieces(self, pieces, value: int, path) -> None:
        flat, start = self.labels.ravel(order="F"), 0
        with closing(pieces):  # a failure closes the file being inflated at once
            for piece in pieces:
                self._count(_core.paint_mask(piece, flat[start:start + piece.size], value), path)
                start += piece.size

    def _count(self, result, path) -> None:
        overlapped, _, lo, hi = result
        check_label_range(lo, hi, path)
        self.overlaps += overlapped

    def ras(self) -> np.ndarray:
        return self.labels if self.ornt is None else orientations.apply_orientation(self.labels, self.ornt)


def _in_layout(data: np.ndarray, file_ornt, ornt, labels: np.ndarray, path) -> np.ndarray:
    """A class file's values in the label map's memory layout: integers in this machine's
    byte order (floats rounded by the label rules), axes as the map's, same memory order."""
    if data.dtype.kind not in "iu" or not data.dtype.isnative:
        data = validate_labels(data, path)
    if file_ornt is not None and not np.array_equal(file_ornt, ornt):
        data = orientations.apply_orientation(data, orientations.ornt_transform(file_ornt, ornt))
    data = np.asarray(data, order=_memory_order(labels))
    return data if data.flags.aligned else data.copy(order=_memory_order(labels))  # an odd vox_offset


def class_masks(files: Sequence[Tuple[str, str]], read_mask, threads: int) -> Iterator[Tuple[str, np.ndarray]]:
    """One united boolean mask per class (RAS+), in the order of ``files`` (grouped by class)."""
    current, united = None, None
    for (name, _), mask in zip(files, _each(read_mask, files, threads)):
        if name != current:
            if current is not None:
                yield current, united
            current, united = name, mask.copy()
        else:
            united |= mask
    if current is not None:
        yield current, united


def overlap_error(files, values: Mapping[str, int], read_mask, threads: int) -> InputError:
    """Names the overlapping pair of smallest values, their shared voxels, and how many
    pairs overlap. Only a failing case pays for it: the files are read twice more, one
    class at a time (a count of classes per voxel, then each class's overlapping voxels)."""
    count = None
    for _, mask in class_masks(files, read_mask, threads):
        count = mask.astype(np.uint16) if count is None else count + mask
    where = np.flatnonzero(count >= 2)
    del count
    inside = {name: mask.ravel()[where] for name, mask in class_masks(files, read_mask, threads)}
    names = sorted(inside, key=lambda n: values[n])
    matrix = np.stack([inside[n] for n in names]).astype(np.int64)
    shared = matrix @ matrix.T
    pairs = [(a, b) for a in range(len(names)) for b in range(a + 1, len(names)) if shared[a, b]]
    a, b = pairs[0]
    name_a, name_b = names[a], names[b]
    path_of = {name: path for name, path in files}
    return InputError(
        f"{path_of[name_a]}: classes {name_a!r} ({values[name_a]}) and {name_b!r} ({values[name_b]}) overlap in "
        f"{int(shared[a, b])} voxels; {len(pairs)} pair(s) of classes overlap (to convert each class on its own: "
        f"--overlap separate, overlap='separate' in the API)")


def separate(files, values: Mapping[str, int], read_mask, threads: int) -> List[Tuple[int, np.ndarray]]:
    """(class value, mask) per class, by value: each to be converted as a label map of its own."""
    return sorted(((values[name], mask) for name, mask in class_masks(files, read_mask, threads)),
                  key=lambda item: item[0])
