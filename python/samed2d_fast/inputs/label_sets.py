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
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .files import InputError

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


def _masks(files: Sequence[Tuple[str, str]], read_mask: Callable[[str], np.ndarray],
           threads: int) -> Iterator[Tuple[str, np.ndarray]]:
    """(class name, mask) per file, in order; ``threads`` files are decompressed at once."""
    if threads <= 1:
        for name, path in files:
            yield name, read_mask(path)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        yield from zip((name for name, _ in files), pool.map(read_mask, [path for _, path in files]))


def class_masks(files: Sequence[Tuple[str, str]], read_mask, threads: int) -> Iterator[Tuple[str, np.ndarray]]:
    """One united mask per class, in the order of ``files`` (grouped by class)."""
    current, united = None, None
    for name, mask in _masks(files, read_mask, threads):
        if name != current:
            if current is not None:
                yield current, united
            current, united = name, mask.copy()
        else:
            united |= mask
    if current is not None:
        yield current, united


def paint(files: Sequence[Tuple[str, str]], values: Mapping[str, int], shape, read_mask,
          threads: int) -> np.ndarray:
    """The label map of a set without overlaps; an overlap fails (``overlap_error``)."""
    dtype = np.min_scalar_type(max(values.values(), default=1))
    labels = np.zeros(shape, dtype=dtype)
    covered = np.zeros(shape, dtype=bool)
    overlapping = False
    for name, mask in class_masks(files, read_mask, threads):
        overlapping = overlapping or bool(np.any(covered & mask))
        labels[mask] = values[name]
        covered |= mask
    if overlapping:
        raise overlap_error(files, values, read_mask, threads)
    return labels


def overlap_error(files, values: Mapping[str, int], read_mask, threads: int) -> InputError:
    """Names the overlapping pair of smallest values, their shared voxels, and how many
    pairs overlap. Files are read again: only a failing case pays for it."""
    masks = list(class_masks(files, read_mask, threads))
    count = np.zeros(masks[0][1].shape, dtype=np.uint16)
    for _, mask in masks:
        count += mask
    where = np.flatnonzero(count >= 2)
    order = sorted(range(len(masks)), key=lambda i: values[masks[i][0]])
    inside = np.stack([masks[i][1].ravel()[where] for i in order]).astype(np.int64)
    shared = inside @ inside.T
    pairs = [(a, b) for a in range(len(order)) for b in range(a + 1, len(order)) if shared[a, b]]
    a, b = pairs[0]
    (name_a, _), (name_b, _) = masks[order[a]], masks[order[b]]
    path_of = {name: path for name, path in files}
    return InputError(
        f"{path_of[name_a]}: classes {name_a!r} ({values[name_a]}) and {name_b!r} ({values[name_b]}) overlap in "
        f"{int(shared[a, b])} voxels; {len(pairs)} pair(s) of classes overlap (to convert each class on its own: "
        f"--overlap separate, overlap='separate' in the API)")


def paint_or_separate(files, values: Mapping[str, int], shape, read_mask,
                      threads: int) -> Tuple[Optional[np.ndarray], Optional[List[Tuple[int, np.ndarray]]]]:
    """Overlap mode ``separate``: the painted label map when no voxel is inside two classes'
    masks (the case converts as that map), else (class value, mask) per class, by value,
    each to be converted as a label map of its own."""
    masks = sorted(((values[name], mask) for name, mask in class_masks(files, read_mask, threads)),
                   key=lambda item: item[0])
    covered = np.zeros(shape, dtype=bool)
    for _, mask in masks:
        if np.any(covered & mask):
            return None, masks
        covered |= mask
    labels = np.zeros(shape, dtype=np.min_scalar_type(max(values.values(), default=1)))
    for value, mask in masks:
        labels[mask] = value
    return labels, None
