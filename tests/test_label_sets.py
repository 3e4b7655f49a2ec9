"""Label sets: one binary mask file per class (issue 11 section 3; SPEC section 8, "Label
sets" and "Case folders").

A label set split from a label map converts exactly as the map; class values follow SPEC 8
(declared names by ``class_names``, the others after every declared value in ``sorted()``
order, with pending class fields); the files of one class are united; overlapping classes
fail naming the pair with the smallest values, or, with ``overlap="separate"``, convert
class by class as ``tests/reference_label_sets.py`` does. The command line reads the
TotalSegmentator and BUSI layouts.

Tests whose name contains ``reference`` check the reference itself; everything else
compares the package with the map conversion or with the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from scipy import ndimage

from helpers import (
    assert_output_equals_reference,
    blob_labels,
    forbid_decoding,
    oriented_affine,
    read_png,
    run_cli,
    save_nifti,
    tree_bytes,
)
from reference_label_sets import (
    LabelSetError,
    OverlapError,
    class_values_ref,
    convert_label_set_ref,
    label_set_sources_ref,
    output_files_ref,
    overlaps_ref,
    paint_ref,
    read_label_set_ref,
    separate_instances_ref,
)
from reference_pipeline import (
    clean_field,
    convert_case_ref,
    dataset_json_ref,
    declared_ref,
    json_differences,
    output_json_ref,
    union_field,
)

import samed2d_fast

# Each example writes files and converts three times: fewer examples than the kernel tests.
EXAMPLES = min(int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200")), 30)
prop = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
STATE_DIR = ".samed2d"
RUN_FILES = ("summary.json", "failures.json", STATE_DIR)  # a run's own account, not its output


# ---- helpers ---------------------------------------------------------------------------------


def convert(image, label, out, **kw):
    return samed2d_fast.convert_case(image, label, out, **kw)


def stored(path):
    """A NIfTI file's stored array and affine."""
    img = nib.load(str(path))
    return np.asanyarray(img.dataobj), img.affine


def split_map(lab, affine, folder: Path, names: dict, *, empty=(), suffix=".nii.gz") -> dict:
    """{class name: file}: one 0/1 uint8 file per value present in ``lab`` (stored array and
    affine as given), plus an all-zero file per name in ``empty``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for v in np.unique(lab):
        if v:
            files[names[int(v)]] = save_nifti(folder / f"{names[int(v)]}{suffix}", (lab == v).astype(np.uint8), affine)
    for name in empty:
        files[name] = save_nifti(folder / f"{name}{suffix}", np.zeros(lab.shape, np.uint8), affine)
    return files


def save_png(path: Path, a: np.ndarray, mode=None) -> Path:
    Image.fromarray(a, mode).save(path) if mode else Image.fromarray(a).save(path)
    return path


def save_mask_png(path: Path, mask: np.ndarray, style: str = "L255") -> Path:
    """A binary mask as a PNG: L 0/255, L 0/1, mode 1, or RGB with three equal channels."""
    m = np.asarray(mask, dtype=bool)
    if style == "L255":
        return save_png(path, m.astype(np.uint8) * 255)
    if style == "L1":
        return save_png(path, m.astype(np.uint8))
    if style == "1":
        Image.fromarray(m.astype(np.uint8) * 255).convert("1").save(path)
        return path
    if style == "RGB":
        return save_png(path, np.repeat((m.astype(np.uint8) * 255)[:, :, None], 3, axis=2))
    raise ValueError(style)


def assert_same_output(out_a: Path, rec_a, out_b: Path, rec_b) -> None:
    """The two conversions wrote the same files, byte for byte, and recorded the same."""
    a, b = tree_bytes(out_a), tree_bytes(out_b)
    assert sorted(set(a) ^ set(b)) == [], "files written by only one of the two conversions"
    assert [k for k in a if a[k] != b[k]] == [], "files whose bytes differ"
    assert a, "nothing was written: the comparison would prove nothing"
    assert rec_a.images == rec_b.images
    assert rec_a.mask_boxes == rec_b.mask_boxes
    assert rec_a.classes == rec_b.classes


def assert_matches_ref(out: Path, record, ref: dict) -> None:
    assert_output_equals_reference(out, record, ref)
    assert {field: name for name, field in record.classes.items()} == ref["classes"]


def repaint(masks: dict, values: dict, shape) -> np.ndarray:
    lab = np.zeros(shape, np.uint16)
    for name, m in masks.items():
        lab[m] = values[name]
    return lab


def snapshot(root: Path) -> dict:
    """Every path under root -> sha256 of its bytes ('dir' for a folder)."""
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(Path(root).rglob("*"))}


def message_without(msg: str, *paths) -> str:
    for p in paths:
        msg = msg.replace(str(p), "<path>")
    return msg




def run_convert(*argv):
    return run_cli("convert", *argv, "-j", "1", "--no-progress")


def load(out: Path, name: str):
    return json.loads((Path(out) / name).read_text(encoding="utf-8"))


def output_pngs(out: Path) -> set:
    return {str(p.relative_to(out)) for p in Path(out).rglob("*.png") if STATE_DIR not in p.relative_to(out).parts}


def assert_files_equal_ref(out: Path, expected: dict) -> None:
    """The PNG files of OUT are exactly ``expected`` (output_files_ref), pixel for pixel."""
    assert output_pngs(out) == set(expected)
    for name, pixels in expected.items():
        np.testing.assert_array_equal(read_png(out / name), pixels, err_msg=name)




def overlapping_masks(shape, seed=0):
    """spleen, liver (to be declared 2 and 5), aorta and bone (undeclared: 6 and 7 after
    liver). Overlaps: spleen/aorta 37 voxels, liver/bone 50, aorta/bone 4; no other pair.
    The pair with the smallest values (spleen, aorta) is neither the largest overlap nor the
    first pair by name."""
    idx = np.random.default_rng(seed).permutation(int(np.prod(shape)))
    parts, start = {}, 0
    for key, n in (("sa", 37), ("lb", 50), ("ab", 4), ("s", 40), ("a", 40), ("l", 40), ("b", 40)):
        parts[key] = idx[start:start + n]
        start += n
    members = {"spleen": ("sa", "s"), "aorta": ("sa", "ab", "a"), "liver": ("lb", "l"), "bone": ("lb", "ab", "b")}
    masks = {}
    for name, keys in members.items():
        m = np.zeros(int(np.prod(shape)), bool)
        for k in keys:
            m[parts[k]] = True
        masks[name] = m.reshape(shape)
    return masks


OVERLAP_DECLARED = {2: "spleen", 5: "liver"}


# ---- the reference, by itself -------------------------------------------------------------------


def test_reference_values_follow_spec8():
    names = ["vessel", "kidney", "Tumour", "cyst", "_core", "aaa_empty"]
    declared = {7: "vessel", 2: "kidney", 4: "unused"}
    # declared by name; the others after the largest declared value (7), in sorted() order
    assert class_values_ref(names, declared) == {"vessel": 7, "kidney": 2, "Tumour": 8, "_core": 9,
                                                 "aaa_empty": 10, "cyst": 11}
    assert class_values_ref(["b", "a"], None) == {"a": 1, "b": 2}
    assert class_values_ref(["b", "a"], {0: "background"}) == {"a": 1, "b": 2}


def test_reference_paint_of_a_split_map_gives_the_map():
    rng = np.random.default_rng(0)
    for shape in [(9, 7, 5), (1, 8, 3), (12, 1), (6, 6)]:
        lab = blob_labels(shape, 5, rng).astype(np.int64)
        names = {1: "liver", 2: "kidney", 3: "tumour", 4: "cyst", 5: "vessel"}
        masks = {names[v]: lab == v for v in range(1, 6)}
        values = class_values_ref(list(masks), names)
        assert overlaps_ref(masks, values) == []
        np.testing.assert_array_equal(paint_ref(masks, values), lab)


def test_reference_overlap_report():
    masks = overlapping_masks((10, 10, 6))
    values = class_values_ref(list(masks), OVERLAP_DECLARED)
    assert values == {"spleen": 2, "liver": 5, "aorta": 6, "bone": 7}
    assert overlaps_ref(masks, values) == [(2, 6, "spleen", "aorta", 37), (5, 7, "liver", "bone", 50),
                                          (6, 7, "aorta", "bone", 4)]
    with pytest.raises(OverlapError) as info:
        paint_ref(masks, values)
    assert info.value.names == ("spleen", "aorta") and info.value.shared == 37 and info.value.n_pairs == 3


def test_reference_separate_order_and_numbering():
    """Two classes' components, listed by their first row-major index, ties by class value;
    numbered per class in that order."""
    a = np.zeros((5, 6), bool)
    b = np.zeros((5, 6), bool)
    a[0, 2:4] = True        # a's first component starts at index 2
    a[3:5, 0] = True        # a's second at 18
    b[0, 2] = True          # b's first at 2 too (a tie: the lower value, a = 3, first)
    b[1, 0] = True          # b's second at 6
    b[4, 5] = True          # b's third at 29 (8-connectivity: not touching the one at 6)
    got = separate_instances_ref({7: b, 3: a})
    assert [(i["label"], i["instance"], i["first"]) for i in got] == [(3, 0, 2), (7, 0, 2), (7, 1, 6), (3, 1, 18),
                                                                      (7, 2, 29)]


def _write_3d_case(folder: Path, lab, names, affine, rng, empty=()):
    folder.mkdir(parents=True, exist_ok=True)
    image = save_nifti(folder / "img.nii.gz", rng.integers(-300, 900, lab.shape).astype(np.int16), affine)
    label = save_nifti(folder / "map.nii.gz", lab.astype(np.uint8), affine)
    return image, label, split_map(lab, affine, folder / "segmentations", names, empty=empty)


def test_reference_label_set_converts_as_its_map(tmp_path):
    rng = np.random.default_rng(1)
    lab = blob_labels((10, 12, 9), 4, rng)
    names = {1: "liver", 2: "kidney", 3: "tumour", 4: "cyst"}
    image, label, label_set = _write_3d_case(tmp_path, lab, names, oriented_affine((1, 2, 0), (1, 0, 1)), rng,
                                             empty=["vessel"])
    for consolidate in ("outer", "union"):
        for overlap in ("error", "separate"):  # no overlap: the map's conversion either way
            ref = convert_label_set_ref(image, label_set, dataset="D", modality="ct_00", case="c", class_names=names,
                                        overlap=overlap, consolidate=consolidate)
            want = convert_case_ref(image, label, dataset="D", modality="ct_00", case="c", class_names=names,
                                    consolidate=consolidate)
            assert ref["mode"] == "map" and ref["index"] == want["index"] and ref["classes"] == want["classes"]
            assert ref["masks"].keys() == want["masks"].keys()
            assert all(np.array_equal(ref["masks"][k], want["masks"][k]) for k in want["masks"])
            assert all(np.array_equal(ref["images"][k], want["images"][k]) for k in want["images"])
    assert label_set_sources_ref(image, label_set) == (str(image), *(str(label_set[n]) for n in sorted(label_set)))


def test_reference_separate_is_class_by_class(tmp_path):
    """The merged separate result lists, per image, exactly the masks separate_instances_ref
    gives for the image's slice of every class, in its numbering."""
    rng = np.random.default_rng(2)
    shape = (8, 9, 7)
    masks = {"a": blob_labels(shape, 1, rng) > 0, "b": blob_labels(shape, 1, rng) > 0, "c": blob_labels(shape, 1, rng) > 0}
    masks["b"] |= masks["a"]  # make sure of an overlap
    affine = np.eye(4)
    image = save_nifti(tmp_path / "img.nii.gz", rng.integers(0, 99, shape).astype(np.int16), affine)
    files = {n: save_nifti(tmp_path / f"{n}.nii.gz", m.astype(np.uint8), affine) for n, m in masks.items()}
    with pytest.raises(OverlapError):
        convert_label_set_ref(image, files, dataset="D", modality="ct_00", case="c")
    ref = convert_label_set_ref(image, files, dataset="D", modality="ct_00", case="c", overlap="separate",
                                consolidate="union")
    assert ref["mode"] == "separate" and ref["masks"]
    values = ref["values"]
    assert not any(n.startswith("union_") for n in ref["classes"].values())  # consolidation off
    for image_name, mask_names in ref["index"].items():
        slice_id = image_name[:-len(".png")].rsplit("--", 1)[1]
        axis, k = "xyz".index(slice_id[0]), int(slice_id[2:])
        slices = {values[n]: np.take(m, k, axis=axis).T[::-1, ::-1] for n, m in masks.items()}
        field = {values[n]: union_field(n) for n in masks}  # no class is declared: all pending
        expected = {(field[i["label"]], i["instance"]): i["mask"] for i in separate_instances_ref(slices)}
        got = {(m.rsplit("--", 1)[1].rsplit("_", 1)[0], int(m[:-4].rsplit("_", 1)[1])): ref["masks"][m]
               for m in mask_names}
        assert got.keys() == expected.keys(), image_name
        assert all(np.array_equal(got[k], expected[k]) for k in got), image_name


def test_reference_rejects_other_grids_and_non_labels(tmp_path):
    rng = np.random.default_rng(3)
    lab = blob_labels((8, 8, 8), 2, rng)
    image, _, label_set = _write_3d_case(tmp_path, lab, {1: "a", 2: "b"}, np.eye(4), rng)
    shifted = np.eye(4)
    shifted[0, 3] = 0.5
    bad = save_nifti(tmp_path / "shifted.nii.gz", (lab == 1).astype(np.uint8), shifted)
    with pytest.raises(LabelSetError, match="shifted.nii.gz"):
        read_label_set_ref(image, {"a": bad})
    half = (lab == 1).astype(np.float32)
    half[0, 0, 0] = 0.5
    bad = save_nifti(tmp_path / "half.nii.gz", half, np.eye(4))
    with pytest.raises(LabelSetError, match=r"half\.nii\.gz.*0\.5"):
        read_label_set_ref(image, {"a": bad})


# ---- (a) a label set converts as its label map --------------------------------------------------


@pytest.mark.parametrize("name, modality", [("totalsegmentator_ct", "ct_00"), ("totalsegmentator_mr", "mr_00")])
def test_real_label_set_converts_as_the_map(shared_data, tmp_path, name, modality):
    """The shared TotalSegmentator case split into one file per class present (stored as the
    map is: the MR in LPS), plus three empty class files, converts byte for byte as the map;
    its sources are the image, then the class files by class name."""
    src = shared_data / name
    image, label = src / "imagesTr" / "example_0000.nii.gz", src / "labelsTr" / "example.nii.gz"
    _, class_names = dataset_json_ref(src / "dataset.json")
    lab, affine = stored(label)
    present = {int(v) for v in np.unique(lab)} - {0}
    empty = [n for v, n in sorted(class_names.items()) if v not in present][:3]
    label_set = split_map(lab, affine, tmp_path / "s0000" / "segmentations", class_names, empty=empty)
    assert len(label_set) == len(present) + 3
    kw = dict(dataset=name, modality=modality, case="s0000", class_names=class_names)
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert rec_set.declared == rec_map.declared and rec_set.declared_max_id == rec_map.declared_max_id
    assert rec_set.sources == (str(image), *(str(label_set[n]) for n in sorted(label_set)))
    assert rec_set.sources == label_set_sources_ref(image, label_set)


def test_real_label_set_with_undeclared_classes(shared_data, tmp_path):
    """Half of the real CT's classes declared: the others are pending classes (values after
    the largest declared value, in sorted() order of their names); with union consolidation
    the set converts as the map repainted with the reference's values. (The order those
    values give union names is shown on a synthetic case below.)"""
    src = shared_data / "totalsegmentator_ct"
    image, label = src / "imagesTr" / "example_0000.nii.gz", src / "labelsTr" / "example.nii.gz"
    _, class_names = dataset_json_ref(src / "dataset.json")
    lab, affine = stored(label)
    present = sorted({int(v) for v in np.unique(lab)} - {0})
    declared = {v: class_names[v] for v in present[::2]}
    label_set = split_map(lab, affine, tmp_path / "segmentations", class_names, empty=["zz_empty"])
    masks = {class_names[v]: lab == v for v in present}
    values = class_values_ref(list(label_set), declared)
    assert values["zz_empty"] == max(values.values())
    assert min(values[class_names[v]] for v in present[1::2]) == max(declared) + 1
    map_path = save_nifti(tmp_path / "repainted.nii.gz", repaint(masks, values, lab.shape), affine)
    kw = dict(dataset="TotalSegmentator", modality="ct_00", case="s0000", consolidate="union")
    rec_map = convert(image, map_path, tmp_path / "map", class_names={v: n for n, v in values.items()},
                      class_ids={v: v for v in declared}, **kw)
    rec_set = convert(image, label_set, tmp_path / "set", class_names=declared, **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    pending = {n for n, f in rec_set.classes.items() if f.startswith("u")}
    assert {class_names[v] for v in present[1::2]} & pending and any(n.startswith("union_") for n in rec_set.classes)
    assert rec_set.declared == {n: f"{v:04d}" for v, n in declared.items()}
    assert rec_set.declared_max_id == max(declared)


ORIENTATIONS = [((0, 1, 2), (0, 0, 0)), ((1, 0, 2), (1, 0, 0)), ((2, 0, 1), (0, 1, 1))]
NAMES = {1: "liver", 2: "Kidney (left)", 3: "tumour", 4: "cyst", 5: "vessel"}


@pytest.mark.parametrize("consolidate", ["outer", "union", "off"])
@pytest.mark.parametrize("perm, flips", ORIENTATIONS)
def test_synthetic_label_set_converts_as_the_map(tmp_path, perm, flips, consolidate):
    rng = np.random.default_rng(hash((perm, flips)) % 2**32)
    lab = blob_labels((14, 12, 16), 5, rng)
    affine = oriented_affine(perm, flips, zooms=(1.0, 1.5, 2.0))
    image, label, label_set = _write_3d_case(tmp_path, lab, NAMES, affine, rng)
    kw = dict(dataset="Synth", modality="mr_t2", case="p1", class_names=NAMES, consolidate=consolidate)
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert rec_set.sources == label_set_sources_ref(image, label_set)
    assert_matches_ref(tmp_path / "set", rec_set, convert_label_set_ref(image, label_set, **kw))


def _nested_volume(rng):
    """A kidney box that encloses a tumour, a cyst and a core in one z slice, and blobs."""
    shape = (18, 16, 6)
    lab = blob_labels(shape, 5, rng)
    lab[:, :, 2] = 0
    lab[2:16, 2:14, 2] = 2          # kidney
    lab[4:6, 4:6, 2] = 3            # Tumour
    lab[8:10, 4:6, 2] = 4           # cyst
    lab[4:6, 9:11, 2] = 5           # _core
    return lab


def test_undeclared_classes_are_pending_with_values_after_the_declared(tmp_path):
    """Declared: vessel = 7, kidney = 2. Undeclared: Tumour, _core, aaa_empty (an empty file),
    cyst, in sorted() order 8, 9, 10, 11: the union name lists them in that order."""
    rng = np.random.default_rng(4)
    lab = _nested_volume(rng)
    names = {1: "vessel", 2: "kidney", 3: "Tumour", 4: "cyst", 5: "_core"}
    affine = oriented_affine((0, 2, 1), (0, 1, 0))
    image, _, label_set = _write_3d_case(tmp_path, lab, names, affine, rng, empty=["aaa_empty"])
    declared = {7: "vessel", 2: "kidney"}
    values = class_values_ref(list(label_set), declared)
    assert values == {"vessel": 7, "kidney": 2, "Tumour": 8, "_core": 9, "aaa_empty": 10, "cyst": 11}
    masks = {names[v]: lab == v for v in range(1, 6)}
    map_path = save_nifti(tmp_path / "repainted.nii.gz", repaint(masks, values, lab.shape), affine)
    kw = dict(dataset="Synth", modality="ct_00", case="p2", consolidate="union")
    rec_map = convert(image, map_path, tmp_path / "map", class_names={v: n for n, v in values.items()},
                      class_ids={v: v for v in declared}, **kw)
    rec_set = convert(image, label_set, tmp_path / "set", class_names=declared, **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert "union_kidney_Tumour__core_cyst" in rec_set.classes
    assert rec_set.classes["Tumour"].startswith("u") and rec_set.classes["kidney"] == "0002"
    assert "aaa_empty" not in rec_set.classes
    assert rec_set.declared == {"kidney": "0002", "vessel": "0007"}
    assert_matches_ref(tmp_path / "set", rec_set, convert_label_set_ref(image, label_set, class_names=declared, **kw))


def test_class_split_over_two_files_is_united(tmp_path):
    """liver in two files that share voxels (one class: no overlap), kidney in one."""
    rng = np.random.default_rng(5)
    lab = blob_labels((12, 12, 10), 2, rng)
    lab[2:10, 3:9, 2:8] = 1
    affine = oriented_affine((0, 1, 2), (1, 1, 0))
    image, label, _ = _write_3d_case(tmp_path, lab, {1: "liver", 2: "kidney"}, affine, rng)
    liver = lab == 1
    part1, part2 = liver.copy(), liver.copy()
    part1[:, :, 6:] = False
    part2[:, :, :4] = False          # slices 4 and 5 are in both files
    seg = tmp_path / "seg"
    seg.mkdir()
    files = [save_nifti(seg / "liver_part1.nii.gz", part1.astype(np.uint8), affine),
             save_nifti(seg / "liver_part2.nii.gz", part2.astype(np.uint8), affine)]
    kidney = save_nifti(seg / "kidney.nii.gz", (lab == 2).astype(np.uint8), affine)
    label_set = {"liver": files, "kidney": kidney}
    kw = dict(dataset="Synth", modality="ct_00", case="p3", class_names={1: "liver", 2: "kidney"})
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert rec_set.sources == (str(image), str(kidney), *map(str, files))


def test_empty_class_files(tmp_path):
    """Empty class files (declared or not) give no mask; a label set whose files are all empty
    writes nothing, or, with keep_empty, the images of an all-zero map."""
    rng = np.random.default_rng(6)
    lab = blob_labels((10, 10, 8), 2, rng)
    affine = np.diag([0.8, 0.8, 1.2, 1.0])
    image, label, label_set = _write_3d_case(tmp_path, lab, {1: "a", 2: "b"}, affine, rng,
                                             empty=["declared_empty", "undeclared_empty"])
    names = {1: "a", 2: "b", 3: "declared_empty"}
    kw = dict(dataset="Synth", modality="ct_00", case="p4", class_names=names)
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert set(rec_set.classes) == {"a", "b"}

    empties = {n: label_set[n] for n in ("declared_empty", "undeclared_empty")}
    rec = convert(image, empties, tmp_path / "none", **kw)
    assert rec.images == {} and rec.classes == {}
    assert not any(p.is_file() for p in (tmp_path / "none").rglob("*"))
    zeros = save_nifti(tmp_path / "zeros.nii.gz", np.zeros(lab.shape, np.uint8), affine)
    rec_map = convert(image, zeros, tmp_path / "zmap", keep_empty=True, **kw)
    rec_set = convert(image, empties, tmp_path / "zset", keep_empty=True, **kw)
    assert_same_output(tmp_path / "zmap", rec_map, tmp_path / "zset", rec_set)


@pytest.mark.parametrize("colour", [False, True])
def test_png_label_set_converts_as_the_map(tmp_path, colour):
    """A 2D image with one PNG per class (L 0/255, L 0/1, mode 1, RGB with equal channels),
    one class in two files, against the same classes as one PNG label map."""
    rng = np.random.default_rng(7 + colour)
    h, w = 48, 40
    lab = blob_labels((h, w), 4, rng)
    pixels = rng.integers(0, 256, (h, w, 3) if colour else (h, w)).astype(np.uint8)
    image = save_png(tmp_path / "img.png", pixels)
    label = save_png(tmp_path / "map.png", lab.astype(np.uint8))
    names = {1: "benign", 2: "malignant", 3: "cyst", 4: "calcification"}
    folder = tmp_path / "masks"
    folder.mkdir()
    label_set = {}
    for (v, name), style in zip(names.items(), ("L255", "L1", "1", "RGB")):
        label_set[name] = save_mask_png(folder / f"{name}.png", lab == v, style)
    half = lab == 1
    part = half.copy()
    part[: h // 2] = False
    label_set["benign"] = [save_mask_png(folder / "benign_mask.png", half & ~part),
                           save_mask_png(folder / "benign_mask_1.png", part)]
    kw = dict(dataset="Synth2D", modality="ultrasound_00", case="img 1", class_names=names)
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)
    assert rec_set.sources == label_set_sources_ref(image, label_set)
    assert_matches_ref(tmp_path / "set", rec_set, convert_label_set_ref(image, label_set, **kw))


# ---- (b) overlapping classes --------------------------------------------------------------------


def _overlap_case(tmp_path, dims):
    """(image, label set, the good case's image and label) of the overlapping_masks classes."""
    shape = (10, 10, 6) if dims == 3 else (24, 25)
    masks = overlapping_masks(shape)
    rng = np.random.default_rng(8)
    seg = tmp_path / "input" / "segmentations"
    seg.mkdir(parents=True)
    if dims == 3:
        image = save_nifti(tmp_path / "input" / "ct.nii.gz", rng.integers(-100, 100, shape).astype(np.int16))
        files = {n: save_nifti(seg / f"{n}.nii.gz", m.astype(np.uint8)) for n, m in masks.items()}
    else:
        image = save_png(tmp_path / "input" / "us.png", rng.integers(0, 256, shape).astype(np.uint8))
        files = {n: save_mask_png(seg / f"{n}.png", m) for n, m in masks.items()}
    return image, files


@pytest.mark.parametrize("dims", [3, 2])
def test_overlap_fails_naming_the_smallest_pair(tmp_path, dims):
    """spleen (2) and aorta (6) share 37 voxels, liver (5) and bone (7) 50, aorta and bone 4:
    the error names spleen and aorta, 37 and 3 pairs, in one line, and OUT keeps only what
    was there before."""
    image, files = _overlap_case(tmp_path, dims)
    out = tmp_path / "out"
    kw = dict(dataset="Ov", modality="ct_00" if dims == 3 else "ultrasound_00", class_names=OVERLAP_DECLARED)
    convert(image, {"spleen": files["spleen"], "liver": files["liver"]}, out, case="good", **kw)
    before = tree_bytes(out)
    assert before
    for extra in ({}, {"overlap": "error"}):
        with pytest.raises(ValueError) as info:
            convert(image, files, out, case="bad", **kw, **extra)
        msg = str(info.value)
        assert "\n" not in msg
        text = message_without(msg, tmp_path)
        assert "spleen" in text and "aorta" in text, msg
        assert "liver" not in text and "bone" not in text, msg
        assert re.search(r"\b37\b", text) and re.search(r"\b3\b", text), msg
        assert tree_bytes(out) == before
    with pytest.raises(OverlapError) as ref:
        convert_label_set_ref(image, files, case="bad", **kw)
    assert (ref.value.names, ref.value.shared, ref.value.n_pairs) == (("spleen", "aorta"), 37, 3)


# ---- (c) overlap mode "separate" -----------------------------------------------------------------


def test_separate_without_overlap_converts_as_the_map(tmp_path):
    """overlap="separate" changes nothing when no voxel is in two classes: the kidney mask
    still covers its enclosed tumour (consolidation "outer")."""
    rng = np.random.default_rng(9)
    lab = _nested_volume(rng)
    names = {1: "vessel", 2: "kidney", 3: "Tumour", 4: "cyst", 5: "_core"}
    image, label, label_set = _write_3d_case(tmp_path, lab, names, np.eye(4), rng)
    kw = dict(dataset="Synth", modality="ct_00", case="p5", class_names=names)
    rec_map = convert(image, label, tmp_path / "map", **kw)
    rec_set = convert(image, label_set, tmp_path / "set", overlap="separate", **kw)
    assert_same_output(tmp_path / "map", rec_map, tmp_path / "set", rec_set)


NAME_POOL = ("liver", "Aorta", "_x9", "zeta", "kidney L", "spleen")
ORIENTATION_POOL = [np.eye(4), oriented_affine((1, 0, 2), (1, 0, 0)), oriented_affine((2, 1, 0), (0, 1, 1))]


@st.composite
def label_sets(draw, dims):
    if dims == 2:
        shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    else:
        shape = tuple(draw(st.integers(1, 4)) for _ in range(3))
    n = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from(NAME_POOL), min_size=n, max_size=n, unique=True))
    files = {name: [draw(arrays(np.bool_, shape)) for _ in range(draw(st.integers(1, 2)))] for name in names}
    values = draw(st.lists(st.integers(1, 9), min_size=n, max_size=n, unique=True))
    declare = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    declared = {v: name for v, name, d in zip(values, names, declare) if d}
    if draw(st.booleans()):
        declared[draw(st.integers(10, 12))] = "unused"
    image = draw(arrays(np.uint8 if dims == 2 else np.int16, shape))
    options = dict(connectivity=draw(st.sampled_from([8, 4])), consolidate=draw(st.sampled_from(["outer", "union", "off"])),
                   keep_empty=draw(st.booleans()))
    affine = draw(st.sampled_from(ORIENTATION_POOL))
    return files, declared, image, options, affine


def _write_label_set(folder: Path, files, image, affine):
    if image.ndim == 2:
        image_path = save_png(folder / "img.png", image)
        label_set = {name: [save_mask_png(folder / f"{name}_{i}.png", m) for i, m in enumerate(ms)]
                     for name, ms in files.items()}
    else:
        image_path = save_nifti(folder / "img.nii", image, affine)
        label_set = {name: [save_nifti(folder / f"{name}_{i}.nii", m.astype(np.uint8), affine) for i, m in enumerate(ms)]
                     for name, ms in files.items()}
    return image_path, label_set


def _check_random_label_set(files, declared, image, options, affine):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image_path, label_set = _write_label_set(tmp, files, image, affine)
        kw = dict(dataset="H", modality="ct_00", case="c", class_names=declared, **options)
        ref = convert_label_set_ref(image_path, label_set, overlap="separate", **kw)
        out = tmp / "separate"
        record = convert(image_path, label_set, out, overlap="separate", **kw)
        assert_matches_ref(out, record, ref)
        out = tmp / "error"
        if ref["mode"] == "separate":
            pair = overlaps_ref(read_label_set_ref(image_path, label_set), ref["values"])[0]
            with pytest.raises(ValueError) as info:
                convert(image_path, label_set, out, **kw)
            text = message_without(str(info.value), tmp)
            assert pair[2] in text and pair[3] in text, str(info.value)
            assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
        else:
            assert_matches_ref(out, convert(image_path, label_set, out, **kw), ref)


@prop
@given(case=label_sets(2))
def test_separate_matches_reference_2d(case):
    _check_random_label_set(*case)


@prop
@given(case=label_sets(3))
def test_separate_matches_reference_3d(case):
    _check_random_label_set(*case)


def test_separate_real_case(shared_data, tmp_path):
    """Some of the real CT's classes, plus an undeclared liver_margin (the liver dilated by
    two voxels) overlapping the liver and its neighbours: mode "error" names the pair with
    the smallest values; "separate" follows the reference, consolidation off even when
    union is asked for."""
    src = shared_data / "totalsegmentator_ct"
    image, label = src / "imagesTr" / "example_0000.nii.gz", src / "labelsTr" / "example.nii.gz"
    _, class_names = dataset_json_ref(src / "dataset.json")
    lab, affine = stored(label)
    keep = [v for v, n in class_names.items() if n in ("spleen", "liver", "stomach", "gallbladder", "pancreas",
                                                      "kidney_right", "duodenum")]
    keep = [v for v in keep if (lab == v).any()]
    assert len(keep) >= 5
    seg = tmp_path / "s0000" / "segmentations"
    label_set = split_map(np.where(np.isin(lab, keep), lab, 0), affine, seg, class_names)
    margin = ndimage.binary_dilation(lab == 5, iterations=2)
    label_set["liver_margin"] = save_nifti(seg / "liver_margin.nii.gz", margin.astype(np.uint8), affine)
    kw = dict(dataset="TotalSegmentator", modality="ct_00", case="s0000", class_names=class_names)
    pairs = overlaps_ref(read_label_set_ref(image, label_set), class_values_ref(list(label_set), class_names))
    assert len(pairs) >= 2
    with pytest.raises(ValueError) as info:
        convert(image, label_set, tmp_path / "error", **kw)
    text = message_without(str(info.value), tmp_path)
    assert pairs[0][2] in text and pairs[0][3] in text and re.search(rf"\b{pairs[0][4]}\b", text), str(info.value)
    assert re.search(rf"\b{len(pairs)}\b", text), str(info.value)
    out = tmp_path / "separate"
    record = convert(image, label_set, out, overlap="separate", consolidate="union", **kw)
    ref = convert_label_set_ref(image, label_set, overlap="separate", consolidate="union", **kw)
    assert ref["mode"] == "separate"
    assert_matches_ref(out, record, ref)
    assert record.classes["liver_margin"].startswith("u")


# ---- (d) bad class files --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["shape", "affine", "png size"])
def test_class_file_on_another_grid_fails_naming_it(tmp_path, kind):
    rng = np.random.default_rng(10)
    out = tmp_path / "out"
    if kind == "png size":
        lab = blob_labels((20, 24), 2, rng)
        image = save_png(tmp_path / "img.png", rng.integers(0, 256, lab.shape).astype(np.uint8))
        good = save_mask_png(tmp_path / "a.png", lab == 1)
        bad = save_mask_png(tmp_path / "other_grid.png", np.ones((20, 23), bool))
    else:
        lab = blob_labels((10, 9, 8), 2, rng)
        affine = oriented_affine((0, 1, 2), (1, 0, 0))
        image, _, files = _write_3d_case(tmp_path, lab, {1: "a", 2: "b"}, affine, rng)
        good = files["a"]
        if kind == "shape":
            bad = save_nifti(tmp_path / "other_grid.nii.gz", np.ones((10, 9, 7), np.uint8), affine)
        else:
            moved = affine.copy()
            moved[:3, 3] += 0.5
            bad = save_nifti(tmp_path / "other_grid.nii.gz", (lab == 2).astype(np.uint8), moved)
    with pytest.raises(ValueError) as info:
        convert(image, {"a": good, "b": bad}, out, dataset="D", modality="ct_00", case="c")
    assert "other_grid" in str(info.value) and "\n" not in str(info.value)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    with pytest.raises(LabelSetError, match="other_grid"):
        read_label_set_ref(image, {"a": good, "b": bad})


def test_class_file_affine_within_tolerance_is_accepted(tmp_path):
    rng = np.random.default_rng(11)
    lab = blob_labels((10, 9, 8), 2, rng)
    image, label, files = _write_3d_case(tmp_path, lab, {1: "a", 2: "b"}, np.eye(4), rng)
    near = np.eye(4)
    near[1, 3] = 4e-4
    files["b"] = save_nifti(tmp_path / "near.nii.gz", (lab == 2).astype(np.uint8), near)
    kw = dict(dataset="D", modality="ct_00", case="c", class_names={1: "a", 2: "b"})
    assert_same_output(tmp_path / "map", convert(image, label, tmp_path / "map", **kw),
                       tmp_path / "set", convert(image, files, tmp_path / "set", **kw))


def test_class_file_with_a_value_that_is_not_a_label_fails(tmp_path):
    rng = np.random.default_rng(12)
    lab = blob_labels((10, 9, 8), 2, rng)
    image, _, files = _write_3d_case(tmp_path, lab, {1: "a", 2: "b"}, np.eye(4), rng)
    half = (lab == 2).astype(np.float32)
    half[lab == 2] = 1.0
    half[0, 0, 0] = 0.5
    files["b"] = save_nifti(tmp_path / "half_value.nii.gz", half)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as info:
        convert(image, files, out, dataset="D", modality="ct_00", case="c")
    assert "half_value" in str(info.value) and "0.5" in str(info.value)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


# ---- (e) the command line -------------------------------------------------------------------------

TS_CT_CLASSES = ["aorta", "kidney_left", "liver", "spleen"]  # values 1..4: sorted order
TS_MR_CLASSES = ["liver", "spleen"]
TS_SHAPE = (16, 14, 18)
TS_AFFINE = oriented_affine((0, 1, 2), (1, 1, 0), zooms=(1.5, 1.5, 2.0))


def _ts_cases(seed, n_cases, classes):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 300, TS_SHAPE).astype(np.int16), blob_labels(TS_SHAPE, len(classes), rng))
            for _ in range(n_cases)]


def write_totalsegmentator(root: Path, cases: dict, image_file: str, classes, empty=("urinary_bladder",)) -> Path:
    """{case: (image, label map)}: case/ct.nii.gz (or mri.nii.gz) and case/segmentations/<class>.nii.gz,
    one file per class whether present or not (as TotalSegmentator ships them); a case whose
    map is None gets an empty segmentations/."""
    for case, (image, lab) in cases.items():
        (root / case / "segmentations").mkdir(parents=True)
        save_nifti(root / case / image_file, image, TS_AFFINE)
        if lab is None:
            continue
        for v, name in enumerate(classes, start=1):
            save_nifti(root / case / "segmentations" / f"{name}.nii.gz", (lab == v).astype(np.uint8), TS_AFFINE)
        for name in empty:
            save_nifti(root / case / "segmentations" / f"{name}.nii.gz", np.zeros(lab.shape, np.uint8), TS_AFFINE)
    return root


def write_nnunet(root: Path, cases: dict, channel: str, classes) -> Path:
    """The same cases as an nnU-Net v2 folder with label maps (values: the sorted class order)."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for case, (image, lab) in cases.items():
        save_nifti(root / "imagesTr" / f"{case}_0000.nii.gz", image, TS_AFFINE)
        save_nifti(root / "labelsTr" / f"{case}.nii.gz", lab.astype(np.uint8), TS_AFFINE)
    labels = {"background": 0, **{name: v for v, name in enumerate(classes, start=1)}}
    (root / "dataset.json").write_text(json.dumps({"name": root.name, "channel_names": {"0": channel},
                                                   "labels": labels}))
    return root


def assert_same_output_tree(a: Path, b: Path) -> None:
    ta = {k: v for k, v in tree_bytes(a).items() if not k.startswith(RUN_FILES)}
    tb = {k: v for k, v in tree_bytes(b).items() if not k.startswith(RUN_FILES)}
    assert sorted(set(ta) ^ set(tb)) == [], f"paths only in one of {a} and {b}"
    assert [k for k in ta if ta[k] != tb[k]] == [], f"files whose bytes differ between {a} and {b}"


def test_cli_totalsegmentator_layout(tmp_path, monkeypatch):
    """Two TotalSegmentator roots (CT: s0000, s0001, s0002 with an empty segmentations/, a
    notes/ folder and meta.csv; MR: s0100 with mri.nii.gz) convert as the same cases as
    nnU-Net folders with label maps; s0002 fails in one line, the others go on; the dry run
    reads headers only; no input byte changes."""
    ct_cases = dict(zip(["s0000", "s0001"], _ts_cases(20, 2, TS_CT_CLASSES)))
    mr_cases = {"s0100": _ts_cases(21, 1, TS_MR_CLASSES)[0]}
    ts = tmp_path / "ts"
    ts_ct = write_totalsegmentator(ts / "TS_CT", {**ct_cases, "s0002": (ct_cases["s0000"][0], None)}, "ct.nii.gz",
                                   TS_CT_CLASSES)
    (ts_ct / "notes").mkdir()
    (ts_ct / "notes" / "readme.txt").write_text("not a case")
    (ts_ct / "meta.csv").write_text("image_id;age\ns0000;60\n")
    ts_mr = write_totalsegmentator(ts / "TS_MR", mr_cases, "mri.nii.gz", TS_MR_CLASSES)
    nn_ct = write_nnunet(tmp_path / "nn" / "TS_CT", ct_cases, "CT", TS_CT_CLASSES)
    nn_mr = write_nnunet(tmp_path / "nn" / "TS_MR", mr_cases, "MR", TS_MR_CLASSES)
    before = snapshot(ts)

    code, stdout, stderr = run_convert(nn_ct, nn_mr, tmp_path / "from_nnunet" / "out")
    assert code == 0, stderr
    emitted = {}
    for image, masks in load(tmp_path / "from_nnunet" / "out", "SAMed2D_v1.json").items():
        emitted.setdefault(image.split("--")[1], set()).update(m.rsplit("--", 1)[1].split("_")[0] for m in masks)
    # the setup: every class is emitted somewhere
    assert emitted == {"TS_CT": {"0001", "0002", "0003", "0004"}, "TS_MR": {"0001", "0002"}}

    with monkeypatch.context() as m:
        forbid_decoding(m)
        code, stdout, stderr = run_convert(ts_ct, ts_mr, tmp_path / "dry", "--dry-run")
    assert code == 1, stdout + stderr  # s0002 would fail
    assert not (tmp_path / "dry").exists()
    lines = stdout.splitlines()
    for case in ("s0000", "s0001", "s0100"):
        assert any(case in line and "ERROR" not in line for line in lines), stdout
    assert any("s0002" in line and "ERROR" in line for line in lines), stdout
    assert any("notes" in line and "skipped" in line for line in lines), stdout
    assert "ct_00" in stdout and "mr_00" in stdout and "TS_CT" in stdout and "TS_MR" in stdout

    out = tmp_path / "from_totalsegmentator" / "out"  # same name: the split files hold it
    code, stdout, stderr = run_convert(ts_ct, ts_mr, out)
    assert code == 1
    (failure,) = load(out, "failures.json")
    assert failure["case"] == "TS_CT--s0002" and "segmentations" in failure["error"] and "\n" not in failure["error"]
    assert len([line for line in stderr.splitlines() if "s0002" in line]) == 1, stderr
    summary = load(out, "summary.json")
    assert summary["cases"] == 3 and summary["failed"] == 1
    assert sum(summary["skipped"].values()) == 2  # notes/ and meta.csv
    assert_same_output_tree(out, tmp_path / "from_nnunet" / "out")
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {
        "TS_CT": {"aorta": "0001", "kidney_left": "0002", "liver": "0003", "spleen": "0004"},
        "TS_MR": {"liver": "0001", "spleen": "0002"}}  # urinary_bladder: never emitted, never declared
    assert snapshot(ts) == before


def test_cli_totalsegmentator_overlap_and_separate(tmp_path):
    """heart_atrium_left lies inside heart: the case fails naming both (and their shared
    voxel count) unless --overlap separate, which converts as the reference does."""
    rng = np.random.default_rng(22)
    shape = (16, 16, 12)
    image = rng.normal(0, 300, shape).astype(np.int16)
    heart = np.zeros(shape, bool)
    heart[3:12, 4:13, 2:10] = True
    atrium = np.zeros(shape, bool)
    atrium[4:7, 5:9, 3:8] = True
    lung = np.zeros(shape, bool)
    lung[12:16, 0:10, 0:12] = True
    root = tmp_path / "TS_OV"
    (root / "s0000" / "segmentations").mkdir(parents=True)
    img = save_nifti(root / "s0000" / "ct.nii.gz", image, TS_AFFINE)
    files = {n: save_nifti(root / "s0000" / "segmentations" / f"{n}.nii.gz", m.astype(np.uint8), TS_AFFINE)
             for n, m in (("heart", heart), ("heart_atrium_left", atrium), ("lung", lung))}
    before = snapshot(root)

    out = tmp_path / "error_out"
    code, _, stderr = run_convert(root, out)
    assert code == 1
    (failure,) = load(out, "failures.json")
    assert "heart" in failure["error"] and "heart_atrium_left" in failure["error"]
    assert re.search(rf"\b{int(atrium.sum())}\b", message_without(failure["error"], tmp_path)), failure["error"]
    assert output_pngs(out) == set()

    out = tmp_path / "separate_out"
    code, _, stderr = run_convert(root, out, "--overlap", "separate")
    assert code == 0, stderr
    ref = convert_label_set_ref(img, files, dataset="TS_OV", modality="ct_00", case="s0000", overlap="separate")
    assert ref["mode"] == "separate"
    assert json_differences(out, output_json_ref(out.name, [ref], {"TS_OV": {}})) == []
    assert_files_equal_ref(out, output_files_ref([ref], {"TS_OV": {}}))
    assert snapshot(root) == before


def _busi_image(rng, shape, mode):
    grey = rng.integers(0, 256, shape).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2) if mode == "RGB" else grey


def write_busi(root: Path, rng) -> dict:
    """BUSI: benign/, malignant/, normal/ with "<stem>.png" and "<stem>_mask.png",
    "<stem>_mask_1.png"; returns {(folder, stem): [mask paths]} of the labelled images."""
    shape = (30, 36)
    cases = {}

    def blob(r0, r1, c0, c1):
        m = np.zeros(shape, bool)
        m[r0:r1, c0:c1] = True
        return m

    layout = {
        ("benign", "benign (1)"): [blob(4, 14, 4, 16), blob(10, 22, 12, 30)],    # two masks, overlapping: united
        ("benign", "benign (2)"): [blob(5, 25, 6, 20)],
        ("malignant", "malignant (1)"): [blob(8, 20, 10, 28), blob(22, 28, 2, 8)],
        ("normal", "normal (1)"): [np.zeros(shape, bool)],                        # an all-zero mask
    }
    for (folder, stem), masks in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        save_png(root / folder / f"{stem}.png", _busi_image(rng, shape, "RGB" if folder != "normal" else "L"))
        paths = []
        for i, m in enumerate(masks):
            suffix = "_mask" if i == 0 else f"_mask_{i}"
            paths.append(save_mask_png(root / folder / f"{stem}{suffix}.png", m, "RGB" if i else "L255"))
        cases[(folder, stem)] = paths
    save_png(root / "normal" / "normal (2).png", _busi_image(rng, shape, "L"))  # no mask: unlabelled
    return cases


def test_cli_busi_layout(tmp_path):
    rng = np.random.default_rng(23)
    root = tmp_path / "Dataset_BUSI_with_GT"
    cases = write_busi(root, rng)
    before = snapshot(root)

    code, _, stderr = run_convert(root, tmp_path / "no_modality")
    assert code == 2 and "--modality" in stderr

    code, stdout, stderr = run_convert(root, tmp_path / "dry", "--modality", "ultrasound_00", "--dry-run")
    assert code == 0, stdout + stderr
    assert all(stem in stdout or clean_field(stem) in stdout for _, stem in cases), stdout
    assert not (tmp_path / "dry").exists()

    out = tmp_path / "out"
    code, stdout, stderr = run_convert(root, out, "--modality", "ultrasound_00")
    assert code == 0, stderr
    converted = [convert_label_set_ref(root / folder / f"{stem}.png", {folder: masks}, dataset=root.name,
                                       modality="ultrasound_00", case=stem)
                 for (folder, stem), masks in sorted(cases.items())]
    declared = {root.name: declared_ref(None)}
    assert json_differences(out, output_json_ref(out.name, converted, declared)) == []
    assert_files_equal_ref(out, output_files_ref(converted, declared))
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {root.name: {"benign": "0001", "malignant": "0002"}}
    images = load(out, "SAMed2D_v1.json")
    assert {i.split("--")[2] for i in images} == {"benign__1_", "benign__2_", "malignant__1_"}
    summary = load(out, "summary.json")
    assert summary["cases"] == 4 and summary["failed"] == 0 and summary["skipped_unlabelled"] == 1
    assert snapshot(root) == before
