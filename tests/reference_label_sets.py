"""A plain reference of SPEC.md section 8, "Label sets": one binary mask file per class.

A label set is ``{class name: path or [paths]}`` of mask files on the image's grid
(NIfTI, or 2D images for a 2D image). This module decides, with numpy only, the class
values, the union of the files of one class, the overlap check and its report, and the
``separate`` overlap mode; the conversion itself is the whole-pipeline reference of
``tests/reference_pipeline.py`` (``convert_case_ref``), run on the painted label map
(or, in ``separate`` mode, on each class's own label map), written to a temporary file.
It never imports ``samed2d_fast``.

Public functions
----------------
class_files(label_set)                    {name: [paths]}, files of one class in the order given
class_values_ref(names, class_names)      SPEC 8 value of each class name
read_label_set_ref(image, label_set)      {name: bool mask (RAS+ for 3D)} with the grid checks
overlaps_ref(masks, values)               every overlapping pair, by values
paint_ref(masks, values)                  the painted label map, or OverlapError
separate_instances_ref(class_slices, ...) SPEC 8 ``separate`` masks of one 2D slice, in order
convert_label_set_ref(image, label_set, ...)   one case, like convert_case_ref's result
label_set_sources_ref(image, label_set)   the record's ``sources``
output_files_ref(converted, declared)     {final output name: pixels} after the metadata's renames

Decisions where SPEC is silent are marked "DECISION" below.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from itertools import combinations
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from reference import slice_instances_ref
from reference_pipeline import (
    MIN_AREA_RATIO,
    class_mapping_ref,
    clean_field,
    convert_case_ref,
    is_nifti,
    mask_sort_key,
    read_2d_ref,
    read_volume_ref,
    resolve_class_names,
)

__all__ = [
    "LabelSetError",
    "OverlapError",
    "class_files",
    "class_values_ref",
    "read_label_set_ref",
    "overlaps_ref",
    "paint_ref",
    "separate_instances_ref",
    "convert_label_set_ref",
    "label_set_sources_ref",
    "output_files_ref",
]

AFFINE_TOLERANCE = 1e-3  # SPEC 1


class LabelSetError(ValueError):
    """A label set that cannot be converted; the message names the file or classes."""


class OverlapError(LabelSetError):
    """Two classes' masks share voxels (overlap mode "error")."""

    def __init__(self, pairs):
        self.pairs = pairs  # [(value a, value b, name a, name b, shared voxels)], sorted by values
        va, vb, na, nb, count = pairs[0]
        self.names = (na, nb)
        self.values = (va, vb)
        self.shared = count
        self.n_pairs = len(pairs)
        super().__init__(f"classes {na!r} (value {va}) and {nb!r} (value {vb}) overlap in {count} voxels; "
                         f"{len(pairs)} pair(s) of classes overlap")


# --------------------------------------------------------------------------------------
# names and values
# --------------------------------------------------------------------------------------


def class_files(label_set) -> dict:
    """{class name: [paths]}; a single path is a list of one. Files of one class stay in the
    order given."""
    files = {}
    for name, paths in dict(label_set).items():
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not paths:
            raise LabelSetError(f"class {name!r}: no file given")
        files[str(name)] = paths
    return files


def class_values_ref(names, class_names=None) -> dict:
    """SPEC 8: a declared name has its declared value; the undeclared names take the values
    after every declared value, in Python ``sorted()`` order of the raw names.

    DECISION: names are matched against the declared names after SPEC 5's duplicate rule
    (two values with one name are called ``{name}_{v}``), i.e. the names the classes have
    in the output; "every declared value" is every key of ``class_names`` ('ignore'
    included, background 0 excluded).
    """
    declared = {name: v for v, name in resolve_class_names(class_names).items() if v != 0}
    top = max((int(v) for v in (class_names or {}) if int(v) != 0), default=0)
    values = {}
    undeclared = sorted(n for n in set(names) if n not in declared)
    for name in names:
        if name in declared:
            values[name] = declared[name]
    for rank, name in enumerate(undeclared, start=1):
        values[name] = top + rank
    return values


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


def _image_grid(image):
    """(is_3d, spatial shape, RAS+ affine or None) of the case's (first) image."""
    paths = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    first = paths[0]
    if is_nifti(first):
        arr, affine = read_volume_ref(first, "image")
        return True, arr.shape[:3], affine
    arr = read_2d_ref(first, "image")
    return False, arr.shape[:2], None


def read_label_set_ref(image, label_set):
    """{class name: bool mask} on the image's grid (3D: RAS+ like the image), the files of
    one class united (logical or). A file on another grid, or with a value that is not a
    label (SPEC 1's label rules), raises LabelSetError naming the file."""
    is_3d, shape, affine = _image_grid(image)
    masks = {}
    for name, paths in class_files(label_set).items():
        united = np.zeros(shape, dtype=bool)
        for path in paths:
            if is_3d != is_nifti(path):
                raise LabelSetError(f"{path}: a class file of a {'3D' if is_3d else '2D'} image must be "
                                    f"{'NIfTI' if is_3d else 'a 2D image'}")
            try:
                if is_3d:
                    lab, lab_affine = read_volume_ref(path, "label")
                else:
                    lab, lab_affine = read_2d_ref(path, "label"), None
            except ValueError as exc:
                raise LabelSetError(str(exc)) from None
            if lab.shape != tuple(shape):
                raise LabelSetError(f"{path}: shape {lab.shape} differs from the image's {tuple(shape)}")
            if is_3d:
                diff = float(np.max(np.abs(lab_affine - affine)))
                if diff > AFFINE_TOLERANCE:
                    raise LabelSetError(f"{path}: affine differs from the image's by {diff} (> 1e-3)")
            united |= lab != 0
        masks[name] = united
    return masks


# --------------------------------------------------------------------------------------
# painting
# --------------------------------------------------------------------------------------


def overlaps_ref(masks: dict, values: dict) -> list:
    """[(value a, value b, name a, name b, shared voxels)] of every pair of classes whose
    masks share at least one voxel, value a < value b, sorted by (value a, value b).

    DECISION: "the pair with the smallest values" is the first in this order
    (lexicographic on the two values)."""
    pairs = []
    for na, nb in combinations(masks, 2):
        if values[na] > values[nb]:
            na, nb = nb, na
        count = int(np.count_nonzero(masks[na] & masks[nb]))
        if count:
            pairs.append((values[na], values[nb], na, nb, count))
    return sorted(pairs)


def paint_ref(masks: dict, values: dict) -> np.ndarray:
    """Each voxel its class value (int64); OverlapError when two classes share a voxel."""
    pairs = overlaps_ref(masks, values)
    if pairs:
        raise OverlapError(pairs)
    shape = next(iter(masks.values())).shape if masks else ()
    lab = np.zeros(shape, dtype=np.int64)
    for name, mask in masks.items():
        lab[mask] = values[name]
    return lab


# --------------------------------------------------------------------------------------
# separate mode, one slice
# --------------------------------------------------------------------------------------


def separate_instances_ref(class_slices: dict, connectivity: int = 8, min_area_ratio: float = MIN_AREA_RATIO):
    """SPEC 8 ``separate``: each class's slice (``{value: bool 2D mask}``) is its own label map
    with consolidation off; the masks of all classes ordered by the lowest row-major index of
    their component, ties by class value; instance numbers counted per class in that order.
    Returns [{"label", "instance", "first", "mask"}] in that order."""
    found = []
    for value, mask in class_slices.items():
        lab = np.asarray(mask, dtype=bool).astype(np.int64) * int(value)
        for inst in slice_instances_ref(lab, connectivity=connectivity, consolidate="off",
                                        min_area_ratio=min_area_ratio):
            first = int(np.flatnonzero(inst["mask"].ravel())[0])
            found.append((first, int(value), inst["mask"]))
    found.sort(key=lambda f: (f[0], f[1]))
    counter = Counter()
    out = []
    for first, value, mask in found:
        out.append({"label": value, "instance": counter[value], "first": first, "mask": mask})
        counter[value] += 1
    return out


# --------------------------------------------------------------------------------------
# one case
# --------------------------------------------------------------------------------------


def _write_label_map(lab: np.ndarray, is_3d: bool, affine, folder: Path, stem: str) -> Path:
    """A label map as a file convert_case_ref reads back unchanged: NIfTI (uint32, the RAS+
    affine, so no reorientation happens) or a 32-bit TIFF (mode I)."""
    if lab.size and int(lab.max()) > 2**31 - 1:
        raise LabelSetError("the reference writes label values up to 2**31-1 only")
    if is_3d:
        path = folder / f"{stem}.nii"
        nib.save(nib.Nifti1Image(lab.astype(np.uint32), affine), str(path))
    else:
        path = folder / f"{stem}.tif"
        Image.fromarray(lab.astype(np.int32)).save(path)
    return path


def _naming(values: dict, class_names):
    """class_names and class_ids for convert_case_ref: every class named; declared classes
    keep their value as id, undeclared ones are pending (a value missing from class_ids)."""
    declared = resolve_class_names(class_names)
    names_by_value = dict(declared)
    names_by_value.update({v: n for n, v in values.items()})
    pending = any(declared.get(v) != n for n, v in values.items())
    class_ids = {v: v for v in declared} if pending else None
    return names_by_value, class_ids


def label_set_sources_ref(image, label_set) -> tuple:
    """The record's ``sources``: the image channels, then the label files in sorted class-name
    order (DECISION: the files of one class in the order given)."""
    images = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    files = class_files(label_set)
    return tuple(os.fspath(p) for p in [*images, *(p for name in sorted(files) for p in files[name])])


def convert_label_set_ref(image, label_set, *, dataset, modality, case=None, class_names=None, overlap="error",
                          connectivity=8, consolidate="outer", keep_empty=False, rgb=False) -> dict:
    """One case whose label is a label set, SPEC 8; a dict as convert_case_ref returns, plus
    "values" ({class name: value}) and "mode" ("map" or "separate").

    Without overlap the painted label map converts as any label map (whatever ``overlap``
    says); with overlap, mode "error" raises OverlapError and mode "separate" converts each
    class as a label map of its own, consolidation off.
    """
    if overlap not in ("error", "separate"):
        raise ValueError(f"overlap must be 'error' or 'separate', got {overlap!r}")
    is_3d, _shape, affine = _image_grid(image)
    masks = read_label_set_ref(image, label_set)
    values = class_values_ref(list(masks), class_names)
    names_by_value, class_ids = _naming(values, class_names)
    common = dict(dataset=dataset, modality=modality, case=case, class_names=names_by_value, class_ids=class_ids,
                  connectivity=connectivity, rgb=rgb, binary=False)
    pairs = overlaps_ref(masks, values)
    with tempfile.TemporaryDirectory(prefix="label_set_ref_") as tmp:
        if not pairs:
            lab = paint_ref(masks, values)
            path = _write_label_map(lab, is_3d, affine, Path(tmp), "painted")
            result = convert_case_ref(image, path, consolidate=consolidate, keep_empty=keep_empty, **common)
            result["mode"] = "map"
        elif overlap == "error":
            raise OverlapError(pairs)
        else:
            per_class = []
            for name in sorted(masks, key=lambda n: values[n]):
                lab = masks[name].astype(np.int64) * values[name]
                path = _write_label_map(lab, is_3d, affine, Path(tmp), f"class_{values[name]}")
                per_class.append((values[name], convert_case_ref(image, path, consolidate="off", keep_empty=True,
                                                                 **common)))
            result = _merge_separate(per_class, keep_empty)
    result["values"] = values
    return result


def _merge_separate(per_class, keep_empty: bool) -> dict:
    """The classes' own conversions as one: per image, every class's masks ordered by the
    first row-major index of their component (consolidation off: the mask is the component),
    ties by class value, numbered per class in that order."""
    first_run = per_class[0][1]
    out = {"images": {}, "masks": {}, "index": {}, "classes": {}, "case": first_run["case"], "mode": "separate"}
    for image_name, pixels in first_run["images"].items():
        found = []
        for value, run in per_class:
            for mask_name in run["index"][image_name]:
                mask = run["masks"][mask_name]
                field = mask_name.rsplit("--", 1)[1].rsplit("_", 1)[0]
                first = int(np.flatnonzero(mask.ravel())[0])
                found.append((first, value, field, mask, run["classes"][field]))
        if not found and not keep_empty:
            continue
        found.sort(key=lambda f: (f[0], f[1]))
        stem = image_name[len("images/"):-len(".png")]
        counter = Counter()
        names = []
        for _first, _value, field, mask, class_name in found:
            name = f"masks/{stem}--{field}_{counter[field]:03d}.png"
            counter[field] += 1
            out["masks"][name] = mask
            out["classes"][field] = class_name
            names.append(name)
        out["images"][image_name] = pixels
        out["index"][image_name] = sorted(names, key=mask_sort_key)
    return out


# --------------------------------------------------------------------------------------
# a whole output
# --------------------------------------------------------------------------------------


def output_files_ref(converted, declared: dict) -> dict:
    """{final name relative to OUT: pixels (images) or uint8 0/255 (masks)} of every PNG file
    of an output made of these conversions (convert_case_ref / convert_label_set_ref
    results), pending class fields renamed as the metadata renames them. ``declared``:
    {dataset: declared_ref(...)} as for output_json_ref."""
    declared = {clean_field(ds): d for ds, d in declared.items()}
    emitted = {}
    for result in converted:
        emitted.setdefault(result["case"][0], {}).update(result["classes"])
    renames = {ds: class_mapping_ref(ds, declared.get(ds, {}), classes)[1] for ds, classes in emitted.items()}
    files = {}
    for result in converted:
        rename = renames[result["case"][0]]
        for image_name, pixels in result["images"].items():
            files[image_name] = pixels
            for name in result["index"][image_name]:
                head, last = name.rsplit("--", 1)
                field, rest = last.rsplit("_", 1)
                files[f"{head}--{rename.get(field, field)}_{rest}"] = result["masks"][name].astype(np.uint8) * 255
    return files
