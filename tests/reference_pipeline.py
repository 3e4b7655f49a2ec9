"""A plain reference of SPEC.md sections 1 to 6: one case, from files to named pixels.

This is the yardstick the package is measured against, so it favours being obviously
right over being fast. It uses only numpy, nibabel, Pillow and the standard library here;
the per-slice kernels (normalisation, instances) come from ``tests/reference.py``.
It never imports ``samed2d_fast``.

Public functions
----------------
clean_field(s)                         SPEC 5 field cleaning
read_volume_ref(path, kind)            SPEC 1, NIfTI -> (RAS+ array, RAS+ affine)
read_2d_ref(path, kind, binary=None)   SPEC 1, 2D image / label image -> array
dataset_json_ref(path)                 dataset.json -> (name, {value: class name})
convert_case_ref(image, label, ...)    SPEC 1-5 for one case, in memory (writes nothing)
write_case_ref(image, label, out, ...) the same, written as PNG files with Pillow
metadata_ref(out_name, index_by_case)  SPEC 5/6 JSON objects: SAMed2D_v1.json and splits
declared_ref(class_names, class_ids)  SPEC 5 classes a case declares, with their ids
class_mapping_ref(...), rename_index_ref(...)   SPEC 5 ids for classes written as ``u<sha1>``
json_text_ref(obj)                     the exact text of a JSON file of the output
output_json_ref(out_name, converted, declared)   every JSON file's text, from converted cases
json_differences(out_dir, expected)    the JSON files of an output that differ from those texts

Decisions where SPEC is silent are marked "DECISION" below.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from PIL import Image

from reference import normalize_ref, slice_instances_ref

__all__ = [
    "MIN_AREA_RATIO",
    "clean_field",
    "case_name_from_path",
    "read_volume_ref",
    "read_2d_ref",
    "dataset_json_ref",
    "resolve_class_names",
    "union_field",
    "mask_sort_key",
    "normalize_volume",
    "iter_case_ref",
    "convert_case_ref",
    "write_case_ref",
    "in_test_ref",
    "metadata_ref",
    "declared_ref",
    "class_mapping_ref",
    "rename_index_ref",
    "json_text_ref",
    "output_json_ref",
    "json_differences",
]

MIN_AREA_RATIO = 100 / 65536  # SPEC 4.4, exact in binary floating point

NIFTI_SUFFIXES = (".nii.gz", ".nii")
ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


# --------------------------------------------------------------------------------------
# SPEC 5: fields and names
# --------------------------------------------------------------------------------------


def clean_field(s: str) -> str:
    """NFC; chars outside [A-Za-z0-9._-] -> '_'; '-' runs -> '-'; strip; empty -> '_'."""
    s = unicodedata.normalize("NFC", str(s))
    chars = []
    for ch in s:
        ch = ch if ch in ALLOWED else "_"
        if ch == "-" and chars and chars[-1] == "-":
            continue  # a run of '-' becomes one '-'
        chars.append(ch)
    out = "".join(chars).lstrip(".-").rstrip("-")
    return out if out else "_"


def is_nifti(path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def case_name_from_path(path) -> str:
    """The file's name without ``.nii.gz`` / ``.nii`` / its image extension (uncleaned)."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return os.path.splitext(name)[0]


def union_field(class_name: str) -> str:
    """Class field of a class whose id is not known yet: 'u' + 8 hex digits of SHA-1."""
    # DECISION: the SHA-1 is taken of the class name's UTF-8 bytes, as given (not cleaned).
    return "u" + hashlib.sha1(class_name.encode("utf-8")).hexdigest()[:8]


def mask_sort_key(mask_name: str):
    """(class id as a number, instance) of '...--CCCC_III.png'.

    DECISION: fields 'u<hex>' (ids not known yet) sort after every numeric id, by text.
    """
    last = mask_name.rsplit("--", 1)[1]
    last = last[: -len(".png")] if last.endswith(".png") else last
    class_field, instance = last.rsplit("_", 1)
    if class_field.isdigit():
        return (0, int(class_field), "", int(instance))
    return (1, 0, class_field, int(instance))


# --------------------------------------------------------------------------------------
# SPEC 1: reading
# --------------------------------------------------------------------------------------


def _check_labels(values: np.ndarray, path) -> np.ndarray:
    """Labels -> int64, with the SPEC 1 rounding (floats) and range checks."""
    if values.dtype.kind in "iu":
        if values.size:
            lo, hi = int(values.min()), int(values.max())
            if lo < 0:
                raise ValueError(f"{path}: label value {lo} is below 0")
            if hi > 2**32 - 1:
                raise ValueError(f"{path}: label value {hi} is above 2**32-1")
        return values.astype(np.int64)
    if values.dtype.kind != "f":
        raise ValueError(f"{path}: unsupported label dtype {values.dtype}")
    x = values.astype(np.float64)
    r = np.rint(x)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(x) | (np.abs(x - r) > 1e-3) | (r < 0) | (r > 2**32 - 1)
    if bad.any():
        v = x[bad].ravel()[0]
        raise ValueError(f"{path}: label value {float(v)!r} is not a label (an integer in [0, 2**32-1])")
    return r.astype(np.int64)


def read_volume_ref(path, kind: str):
    """A NIfTI file -> (array in closest canonical RAS+ orientation, its 4x4 affine).

    kind "image": stored integers (integer dtype, positive slope) else get_fdata() float64;
    the result is (X, Y, Z) or (X, Y, Z, C).
    kind "label": scaled values, floats rounded and checked; int64 (X, Y, Z).
    """
    if kind not in ("image", "label"):
        raise ValueError(f"kind must be 'image' or 'label', got {kind!r}")
    img = nib.load(str(path))
    shape = tuple(img.shape)
    while len(shape) > 3 and shape[-1] == 1:  # trailing length-1 axes beyond the third
        shape = shape[:-1]
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) < 2 or len(shape) > 4:
        raise ValueError(f"{path}: unsupported NIfTI shape {img.shape}")
    if kind == "label" and len(shape) == 4:
        raise ValueError(f"{path}: a label map must be 3D, got shape {img.shape}")

    stored_dtype = img.get_data_dtype()
    slope = float(img.dataobj.slope)
    inter = float(img.dataobj.inter)
    if kind == "image":
        if stored_dtype.kind in "iu" and slope > 0:
            data = np.asarray(img.dataobj.get_unscaled())
        else:
            data = img.get_fdata(dtype=np.float64)
    else:
        if stored_dtype.kind in "iu" and slope == 1 and inter == 0:
            data = np.asarray(img.dataobj.get_unscaled())
        else:
            data = img.get_fdata(dtype=np.float64)  # scaling applied
        data = _check_labels(data, path)
    data = data.reshape(shape)

    # nibabel.as_closest_canonical: io_orientation of the affine, then apply_orientation
    ornt = io_orientation(img.affine)
    data = apply_orientation(data, ornt)
    affine = img.affine @ inv_ornt_aff(ornt, shape[:3])
    return np.ascontiguousarray(data), affine


GREY_IMAGE_MODES = ("L", "I;16", "I;16L", "I;16B", "I", "F")


def read_2d_ref(path, kind: str, binary=None) -> np.ndarray:
    """A 2D image or label image read with Pillow (first page, no EXIF rotation).

    kind "image": (H, W) for grey modes, (H, W, 3) for colour modes; any dtype.
    kind "label": (H, W) int64 label values.
    """
    if kind not in ("image", "label"):
        raise ValueError(f"kind must be 'image' or 'label', got {kind!r}")
    with Image.open(path) as im:
        im.seek(0)
        mode, fmt = im.mode, im.format
        if kind == "image":
            if mode in GREY_IMAGE_MODES:
                return np.array(im)
            if mode == "1":
                return np.array(im.convert("L"))  # 0 / 255
            if mode == "LA":
                return np.array(im)[..., 0]
            if mode == "RGB":
                return np.array(im)
            if mode == "RGBA":
                return np.array(im)[..., :3]
            if mode in ("P", "PA", "CMYK"):
                return np.array(im.convert("RGBA" if mode == "PA" else "RGB"))[..., :3]
            raise ValueError(f"{path}: unsupported image mode {mode}")

        # labels, in the order of SPEC 1
        if fmt in ("JPEG", "MPO"):
            return (np.array(im.convert("L")) >= 128).astype(np.int64)
        if mode == "P":
            lab = np.array(im)
        elif mode == "PA":
            lab = np.array(im)[..., 0]
        elif mode in ("RGB", "RGBA"):
            a = np.array(im)[..., :3]
            if not ((a[..., 0] == a[..., 1]).all() and (a[..., 0] == a[..., 2]).all()):
                raise ValueError(f"{path}: RGB label image whose channels differ")
            lab = a[..., 0]
        elif mode == "LA":
            lab = np.array(im)[..., 0]
        elif mode == "1":
            lab = np.array(im.convert("L"))  # 0 / 255
        elif mode in GREY_IMAGE_MODES:
            lab = np.array(im)
        else:
            raise ValueError(f"{path}: unsupported label image mode {mode}")
    lab = _check_labels(lab, path)
    if binary is None:
        nonzero = np.unique(lab[lab != 0])
        binary = nonzero.size == 1 and int(nonzero[0]) == 255
    if binary:
        # DECISION: with binary=True only the value 255 becomes 1; other values are kept.
        lab = np.where(lab == 255, 1, lab)
    return lab


def dataset_json_ref(path):
    """dataset.json -> (name or None, {label value: class name}) per SPEC 5.

    MSD / nnU-Net v1 {"1": "liver"} and nnU-Net v2 {"liver": 1}; v2 regions (lists) are
    not classes; background (0) is left out; 'ignore' is kept (convert_case_ref treats
    it as background).
    """
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    names = {}
    for key, value in meta.get("labels", {}).items():
        if isinstance(value, str):  # v1: "1": "liver"
            v, name = int(key), value
        elif isinstance(value, int) and not isinstance(value, bool):  # v2: "liver": 1
            v, name = value, key
        else:  # a v2 region (list) is not a class
            continue
        if v != 0:
            names[v] = name
    return meta.get("name"), names


def resolve_class_names(class_names) -> dict:
    """{value: name} with SPEC 5's rule: two values with one name become '{name}_{v}' each.

    DECISION: duplicates are looked for among the given names only ('ignore' excluded);
    an unnamed value v is 'label_{v}' (see class_name_of).
    """
    given = {int(v): str(n) for v, n in (class_names or {}).items() if n}
    counts = Counter(n for n in given.values() if n != "ignore")
    return {v: (f"{n}_{v}" if n != "ignore" and counts[n] > 1 else n) for v, n in given.items()}


# --------------------------------------------------------------------------------------
# SPEC 2-5: one case
# --------------------------------------------------------------------------------------


def normalize_volume(a: np.ndarray) -> np.ndarray:
    """SPEC 2 over a whole array. Integers of up to 32 bits use the SPEC formula in numpy
    int64 (exact: 255 * (hi - lo) < 2**40); anything else is normalize_ref of reference.py
    (whose integer path uses Python ints, too slow for a benchmark peer on big volumes)."""
    a = np.asarray(a)
    if a.dtype.kind in "iu" and a.dtype.itemsize <= 4 and a.size:
        x = a.astype(np.int64)
        lo, hi = int(x.min()), int(x.max())
        d = hi - lo
        if d == 0:
            return np.zeros(a.shape, np.uint8)
        return ((255 * (x - lo) + d - 1) // d).astype(np.uint8)
    return normalize_ref(a)


def _display(s2d: np.ndarray) -> np.ndarray:
    """SPEC 3: the saved orientation of a slice S is S.T[::-1, ::-1]."""
    return s2d.T[::-1, ::-1]


def _take(vol: np.ndarray, axis: int, k: int) -> np.ndarray:
    if axis == 0:
        return vol[k, :, :]
    if axis == 1:
        return vol[:, k, :]
    return vol[:, :, k]


def _read_case(image_paths, label_path, binary):
    """-> (list of channel arrays, label array, is_3d)."""
    if all(is_nifti(p) for p in image_paths) and is_nifti(label_path):
        lab, lab_aff = read_volume_ref(label_path, "label")
        channels = []
        for p in image_paths:
            arr, aff = read_volume_ref(p, "image")
            if arr.shape[:3] != lab.shape:
                raise ValueError(f"{p} and {label_path}: shapes {arr.shape[:3]} and {lab.shape} differ")
            diff = float(np.max(np.abs(aff - lab_aff)))
            if diff > 1e-3:
                raise ValueError(f"{p} and {label_path}: affines differ by {diff} (> 1e-3)")
            if arr.ndim == 4:
                channels.extend(arr[..., c] for c in range(arr.shape[3]))
            else:
                channels.append(arr)
        return channels, lab, True
    if any(is_nifti(p) for p in image_paths) or is_nifti(label_path):
        raise ValueError("image and label must both be NIfTI or both be 2D images")
    if len(image_paths) != 1:
        raise ValueError("a 2D case has one image file")
    img = read_2d_ref(image_paths[0], "image")
    lab = read_2d_ref(label_path, "label", binary=binary)
    if img.shape[:2] != lab.shape:
        raise ValueError(f"{image_paths[0]} and {label_path}: shapes {img.shape[:2]} and {lab.shape} differ")
    return [img], lab, False


def iter_case_ref(
    image,
    label,
    *,
    dataset,
    modality,
    case=None,
    class_names=None,
    class_ids=None,
    connectivity=8,
    consolidate="outer",
    keep_empty=False,
    rgb=False,
    binary=None,
):
    """Yield (image_name, pixels, [(mask_name, bool mask, class_name), ...]) one saved image
    at a time, names relative to OUT ('images/....png', 'masks/....png'), masks in emitted
    order. See convert_case_ref for the arguments."""
    image_paths = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    channels, lab, is_3d = _read_case(image_paths, label, binary)

    # names: modality tag per channel; '_{c:04d}' on the case when two channels share a tag
    n = len(channels)
    modalities = [modality] * n if isinstance(modality, str) else list(modality)
    if len(modalities) != n:
        raise ValueError(f"{n} channels but {len(modalities)} modality tags")
    mods = [clean_field(m) for m in modalities]
    ds = clean_field(dataset)
    case_clean = clean_field(case if case is not None else case_name_from_path(image_paths[0]))
    if len(set(mods)) < n:
        # DECISION: the index is appended to the cleaned case name.
        cases = [f"{case_clean}_{c:04d}" for c in range(n)]
    else:
        cases = [case_clean] * n

    # classes: 'ignore' is background; names; ids
    names = resolve_class_names(class_names)
    ignored = [v for v, nm in names.items() if nm == "ignore"]
    if ignored:
        lab = np.where(np.isin(lab, ignored), 0, lab)
    class_ids = None if class_ids is None else {int(k): int(v) for k, v in class_ids.items()}

    def class_name_of(v):
        return names.get(v) or f"label_{v}"

    # SPEC 2: normalise each channel over the whole volume / image, before slicing
    normed = [normalize_volume(ch) for ch in channels]

    # SPEC 3: (dim_slice_id, label slice, image slices)
    def slices():
        if not is_3d:
            yield "2d_none", lab, normed
            return
        for axis, axis_name in enumerate("xyz"):
            size = lab.shape[axis]
            width = max(4, len(str(size - 1)))
            for k in range(size):
                lab2d = _display(_take(lab, axis, k))
                h, w = lab2d.shape
                if not 2 * min(h, w) >= max(h, w):
                    continue
                yield f"{axis_name}_{k:0{width}d}", lab2d, [_display(_take(v, axis, k)) for v in normed]

    for dim_slice_id, lab2d, pixels in slices():
        # SPEC 4: instances (shared by all channels: they share the label map)
        instances = slice_instances_ref(
            np.ascontiguousarray(lab2d),
            connectivity=connectivity,
            consolidate=consolidate,
            min_area_ratio=MIN_AREA_RATIO,
        )
        for c in range(n):
            stem = f"{mods[c]}--{ds}--{cases[c]}--{dim_slice_id}"
            counter = Counter()
            masks = []
            for inst in instances:
                v = int(inst["label"])
                if inst["union"]:
                    # outer class name, then the enclosed classes' names, ascending value
                    cname = "union_" + "_".join(class_name_of(int(m)) for m in inst["members"])
                    field = union_field(cname)
                else:
                    cname = class_name_of(v)
                    # SPEC 5: without a mapping the id is the value; a value missing
                    # from a given mapping is a class whose id is not known yet.
                    if class_ids is None:
                        field = f"{v:04d}"
                    elif v in class_ids:
                        field = f"{class_ids[v]:04d}"
                    else:
                        field = union_field(cname)
                i = counter[field]
                counter[field] += 1
                masks.append((f"masks/{stem}--{field}_{i:03d}.png", np.asarray(inst["mask"], dtype=bool), cname))
            if not masks and not keep_empty:
                continue
            px = np.ascontiguousarray(pixels[c])
            if rgb and px.ndim == 2:
                px = np.repeat(px[:, :, None], 3, axis=2)
            yield f"images/{stem}.png", px, masks


def convert_case_ref(image, label, *, dataset, modality, case=None, class_names=None, class_ids=None,
                     connectivity=8, consolidate="outer", keep_empty=False, rgb=False, binary=None) -> dict:
    """One case, SPEC 1-5, in memory.

    image: a path, or a list of paths (nnU-Net channel files of one case); NIfTI (3D or
        4D) or one 2D image. label: a path. modality: one tag, or one per channel.
    class_names: {value: name}; class_ids: {value: id} (default: the value itself).
    Returns {"images": {"images/<n>.png": uint8 (H,W) or (H,W,3)},
             "masks": {"masks/<n>.png": bool (H,W)},
             "index": {"images/<n>.png": [mask names sorted by (class id, instance)]},
             "classes": {class field: class name} of the emitted masks,
             "case": (cleaned dataset, cleaned case before any channel index)}.
    """
    out = {"images": {}, "masks": {}, "index": {}, "classes": {}}
    for image_name, px, masks in iter_case_ref(
        image, label, dataset=dataset, modality=modality, case=case, class_names=class_names,
        class_ids=class_ids, connectivity=connectivity, consolidate=consolidate,
        keep_empty=keep_empty, rgb=rgb, binary=binary,
    ):
        out["images"][image_name] = px
        for mask_name, mask, cname in masks:
            out["masks"][mask_name] = mask
            out["classes"][mask_name.rsplit("--", 1)[1].rsplit("_", 1)[0]] = cname
        out["index"][image_name] = sorted((m for m, _, _ in masks), key=mask_sort_key)
    paths = [image] if isinstance(image, (str, os.PathLike)) else list(image)
    out["case"] = (clean_field(dataset), clean_field(case if case is not None else case_name_from_path(paths[0])))
    return out


def write_case_ref(image, label, out_dir, **kwargs) -> dict:
    """convert_case_ref, written under out_dir as PNG files by Pillow, one image at a time
    (the plain numpy+scipy+Pillow peer). Returns the index. Writes no JSON."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    index = {}
    for image_name, px, masks in iter_case_ref(image, label, **kwargs):
        Image.fromarray(px).save(out_dir / image_name)  # uint8: 'L' or 'RGB'
        for mask_name, mask, _ in masks:
            Image.fromarray(mask.astype(np.uint8) * np.uint8(255)).save(out_dir / mask_name)
        index[image_name] = sorted((m for m, _, _ in masks), key=mask_sort_key)
    return index


# --------------------------------------------------------------------------------------
# SPEC 5-6: metadata
# --------------------------------------------------------------------------------------


def in_test_ref(dataset: str, case: str, test_fraction: float = 0.2) -> bool:
    """SPEC 6: the case (cleaned fields, before any channel index) is in the test part."""
    key = f"{clean_field(dataset)}--{clean_field(case)}"
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32 < test_fraction


def metadata_ref(out_name: str, index_by_case: dict, test_fraction: float = 0.2) -> dict:
    """index_by_case: {(dataset, case): index} (an index as convert_case_ref's "index",
    or a whole convert_case_ref result).

    Returns {"SAMed2D_v1.json": {"images/x.png": ["masks/...", ...]},
             "image2label_train.json": {"<out_name>/images/x.png": ["<out_name>/masks/...", ...]},
             "label2image_test.json": {"<out_name>/masks/m.png": "<out_name>/images/x.png"}},
    images sorted, masks of each image sorted by (class id as a number, instance).
    SAMed2D_v1.json keeps images without masks (with []); the splits leave them out.
    """
    samed, train, test = {}, {}, {}
    for (dataset, case), index in index_by_case.items():
        if "index" in index:
            index = index["index"]
        to_test = in_test_ref(dataset, case, test_fraction)
        for image_name, masks in index.items():
            masks = sorted(masks, key=mask_sort_key)
            samed[image_name] = masks
            if not masks:
                continue
            if to_test:
                for m in masks:
                    test[f"{out_name}/{m}"] = f"{out_name}/{image_name}"
            else:
                train[f"{out_name}/{image_name}"] = [f"{out_name}/{m}" for m in masks]
    return {
        "SAMed2D_v1.json": dict(sorted(samed.items())),
        "image2label_train.json": dict(sorted(train.items())),
        "label2image_test.json": dict(sorted(test.items())),
    }


def declared_ref(class_names=None, class_ids=None) -> dict:
    """{class name: id, or None when not known before the run} of every class a case
    declares (SPEC 5): each named value but the background (0), 'ignore' included, and each
    value of ``class_ids``; the id is the value itself without ``class_ids``."""
    names = resolve_class_names(class_names)
    ids = None if class_ids is None else {int(v): int(i) for v, i in class_ids.items()}
    declared = {}
    for v in sorted(set(names) | set(ids or {})):
        if v != 0:
            declared[names.get(v) or f"label_{v}"] = v if ids is None else ids.get(v)
    return declared


def class_mapping_ref(dataset: str, declared: dict, emitted: dict):
    """SPEC 5 ids of the classes written as 'u<sha1>'.

    declared: {class name: id} every class declared for the data set (declared_ref: the
        dataset.json labels including 'ignore', user names or mapping; id None when it is
        not known before the run); emitted: {class field: class name} of every emitted mask
        of the data set (convert_case_ref's "classes", merged).
    Returns ({dataset: {class name: "CCCC"}} for SAMed2D_v1_class_mapping_id.json,
             {u-field: "CCCC"} renames).
    DECISION: 'ignore' is not listed in the mapping (it is background), but its id counts.
    """
    mapping = {name: f"{int(i):04d}" for name, i in declared.items() if i is not None and name != "ignore"}
    known = [int(i) for i in declared.values() if i is not None] + [int(f) for f in emitted if f.isdigit()]
    for field, name in emitted.items():
        if field.isdigit():
            mapping.setdefault(name, field)
    top = max(known, default=0)
    renames = {}
    pending = {name for field, name in emitted.items() if not field.isdigit()}
    pending |= {name for name, i in declared.items() if i is None and name != "ignore"}
    for name in sorted(pending):
        if name in mapping:
            continue
        top += 1
        mapping[name] = f"{top:04d}"
        renames[union_field(name)] = mapping[name]
    return {clean_field(dataset): mapping}, renames


def rename_index_ref(index: dict, renames: dict) -> dict:
    """Apply {u-field: "CCCC"} to the mask names of an index; masks re-sorted."""
    out = {}
    for image_name, masks in index.items():
        new = []
        for m in masks:
            head, last = m.rsplit("--", 1)
            field, rest = last.rsplit("_", 1)
            new.append(f"{head}--{renames.get(field, field)}_{rest}")
        out[image_name] = sorted(new, key=mask_sort_key)
    return out


def json_text_ref(obj) -> str:
    """The exact text of an output JSON file (SPEC 5)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def output_json_ref(out_name: str, converted, declared: dict, test_fraction: float = 0.2) -> dict:
    """The exact text of each JSON file of an output, built from the reference conversion.

    converted: convert_case_ref results, one per case; declared: {dataset: declared_ref(...)}
    (keyed by the data set as given or cleaned). Returns {file name: text} for
    SAMed2D_v1.json, SAMed2D_v1_class_mapping_id.json, image2label_train.json and
    label2image_test.json.
    """
    declared = {clean_field(ds): d for ds, d in declared.items()}
    emitted = {}
    for result in converted:
        emitted.setdefault(result["case"][0], {}).update(result["classes"])
    mapping, renames = {}, {}
    for dataset in sorted(emitted):  # the data sets of the converted cases
        ids, renames[dataset] = class_mapping_ref(dataset, declared.get(dataset, {}), emitted[dataset])
        mapping.update(ids)
    index_by_case = {result["case"]: rename_index_ref(result["index"], renames[result["case"][0]])
                     for result in converted}
    files = dict(metadata_ref(out_name, index_by_case, test_fraction))
    files["SAMed2D_v1_class_mapping_id.json"] = mapping
    return {name: json_text_ref(obj) for name, obj in files.items()}


def json_differences(out_dir, expected: dict) -> list:
    """One line per JSON file of ``out_dir`` whose text differs from ``expected``
    ({file name: text}, as output_json_ref gives it), naming its first differing line
    (a short report: a diff of two large texts that differ everywhere takes minutes)."""
    differences = []
    for name, text in expected.items():
        path = Path(out_dir) / name
        got = path.read_text(encoding="utf-8") if path.is_file() else None
        if got == text:
            continue
        if got is None:
            differences.append(f"{name}: missing")
            continue
        ours, theirs = got.splitlines(), text.splitlines()
        k = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        ours_k, theirs_k = (repr(lines[k]) if k < len(lines) else "the end of the file" for lines in (ours, theirs))
        differences.append(f"{name}, line {k + 1}: {ours_k}, the reference has {theirs_k}")
    return differences
