"""The release preset (SPEC section 7) pixel for pixel, and --class-map."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

import samed2d_fast as sf
from helpers import blob_labels, oriented_affine, read_png, save_nifti
from samed2d_fast import cli
from samed2d_fast.normalize import normalize_release


def release_formula(x: np.ndarray) -> np.ndarray:
    """SPEC section 7, written out independently of the package."""
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    out = np.zeros(x.shape, np.uint8)
    if finite.any():
        lo, hi = x[finite].min(), x[finite].max()
        out[finite] = (((x[finite] - lo) / (hi - lo + 1e-8)) * 255).astype(np.uint8)
    return out


@pytest.mark.parametrize("dtype,slope,inter", [("int16", 0.5, 10.0), ("float32", None, None), ("uint8", None, None)])
def test_release_images_follow_the_formula_on_x_y_z_slices(tmp_path, dtype, slope, inter):
    rng = np.random.default_rng(1)
    shape = (22, 26, 30)
    data = (rng.normal(100, 40, shape)).astype(dtype)
    if data.dtype.kind == "f":
        data[3, 4, 5] = np.nan
        data[6, :, 7] = np.inf
    affine = oriented_affine((2, 0, 1), (1, 0, 1), zooms=(0.7, 1.1, 2.0))
    img = save_nifti(tmp_path / "img.nii", data, affine, slope=slope, inter=inter, dtype=np.dtype(dtype))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 3, rng), affine)
    out = tmp_path / "out"
    record = sf.convert_case(img, lab, out, dataset="rel", modality="ct_00", normalization="slice",
                             rgb=True, consolidate="union", keep_empty=True)
    canonical = nib.as_closest_canonical(nib.load(str(img))).get_fdata()
    seen_axes = set()
    for name in record.images:
        axis_name, k = name.rsplit("--", 1)[1][:-4].split("_")
        axis, k = "xyz".index(axis_name), int(k)
        seen_axes.add(axis_name)
        where = [slice(None)] * 3
        where[axis] = k
        expected = release_formula(canonical[tuple(where)].T[::-1, ::-1])
        got = read_png(out / name)
        assert got.shape == expected.shape + (3,)
        for c in range(3):
            np.testing.assert_array_equal(got[..., c], expected, err_msg=name)
    assert seen_axes == {"x", "y", "z"}


def test_normalize_release_edges():
    assert normalize_release(np.full((3, 3), 7.0)).max() == 0
    assert normalize_release(np.array([np.nan, np.inf])).max() == 0
    assert normalize_release(np.array([0.0, 1.0])).tolist() == [0, 254]
    with pytest.raises(ValueError):
        normalize_release(np.array([-1e308, 1e308]))


def test_release_preset_on_the_command_line(shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["convert", str(shared_data / "totalsegmentator_ct"), str(out), "--preset", "release",
                     "-j", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["totalsegmentator_ct"]
    unions = {n: i for n, i in mapping.items() if n.startswith("union_")}
    assert unions and min(int(i) for i in unions.values()) == 118  # after the largest declared id, 117
    assert all(f"new class id {i}: totalsegmentator_ct/{n}" in printed for n, i in unions.items())
    image = read_png(next((out / "images").iterdir()))
    assert image.ndim == 3 and (image[..., 0] == image[..., 2]).all()


def test_class_map_keeps_given_ids_and_reports_the_others(shared_data, tmp_path, capsys):
    given = {"totalsegmentator_ct": {"liver": "0003", "spleen": "0007", "aorta": "0400",
                                     "union_liver_portal_vein_and_splenic_vein": "0500"}}
    class_map = tmp_path / "map.json"
    class_map.write_text(json.dumps(given))
    out = tmp_path / "out"
    assert cli.main(["convert", str(shared_data / "totalsegmentator_ct"), str(out), "--class-map", str(class_map),
                     "--consolidate", "union", "-j", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["totalsegmentator_ct"]
    for name, class_id in given["totalsegmentator_ct"].items():
        assert mapping[name] == class_id
    others = {n: i for n, i in mapping.items() if n not in given["totalsegmentator_ct"]}
    assert others and all(int(i) > 500 for i in others.values())  # after every given id
    assert "new class id" in printed and "totalsegmentator_ct/kidney_left" in printed
    masks = [m for ms in json.loads((out / "SAMed2D_v1.json").read_text()).values() for m in ms]
    assert any(m.split("--")[-1].startswith("0003_") for m in masks)
    assert not any(m.split("--")[-1].startswith("u") for m in masks)


def _unknown_folder(root, cases) -> str:
    """An nnU-Net folder naming only label 1 (kidney); each case {name: unnamed value} holds a
    kidney with that value inside it (so the release's union class holds both) and the value
    on its own elsewhere."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(5)
    for name, value in cases.items():
        label = np.zeros((16, 16, 12), np.uint8)
        label[2:10, 2:10, 3:9] = 1
        label[4:8, 4:8, 3:9] = value
        label[11:15, 11:15, 3:9] = value
        save_nifti(root / "imagesTr" / f"{name}_0000.nii.gz", rng.normal(0, 100, label.shape).astype(np.int16))
        save_nifti(root / "labelsTr" / f"{name}.nii.gz", label)
    (root / "dataset.json").write_text(json.dumps({"name": "Kidneys", "channel_names": {"0": "CT"},
                                                   "labels": {"background": 0, "kidney": 1}}))
    return str(root)


def _mapping(out) -> dict:
    return json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["Kidneys"]


def test_release_calls_the_one_unnamed_value_unknown(tmp_path):
    out = tmp_path / "out"
    src = _unknown_folder(tmp_path / "src", {"a": 2, "b": 2})
    assert cli.main(["convert", src, str(out), "--preset", "release", "-j", "1", "--no-progress"]) == 0
    mapping = _mapping(out)
    assert mapping["kidney"] == "0001" and mapping["unknown"] == "0002"
    assert "union_kidney_unknown" in mapping and not any(n.startswith("unknown_") for n in mapping)


def test_release_calls_several_unnamed_values_unknown_v_paper_keeps_label_v(tmp_path):
    src = _unknown_folder(tmp_path / "src", {"a": 2, "b": 3})
    release, paper = tmp_path / "release", tmp_path / "paper"
    assert cli.main(["convert", src, str(release), "--preset", "release", "-j", "1", "--no-progress"]) == 0
    mapping = _mapping(release)
    assert (mapping["unknown_2"], mapping["unknown_3"]) == ("0002", "0003") and "unknown" not in mapping
    assert {"union_kidney_unknown_2", "union_kidney_unknown_3"} <= set(mapping)
    assert cli.main(["convert", src, str(paper), "-j", "1", "--no-progress"]) == 0
    assert {"label_2", "label_3"} <= set(_mapping(paper)) and not any("unknown" in n for n in _mapping(paper))


def test_unknown_names_are_decided_by_the_whole_data_set_in_shards_and_merge(tmp_path):
    """A shard sees one unnamed value; the merged data set has two: the names follow the
    merged records, and end as one unsharded run's, byte for byte."""
    src = _unknown_folder(tmp_path / "src", {"a": 2, "b": 3, "c": 3})
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    assert cli.main(["convert", src, str(whole), "--preset", "release", "-j", "1", "--no-progress"]) == 0
    first = ["convert", src, str(shards), "--preset", "release", "-j", "1", "--no-progress", "--num-shards", "2"]
    assert cli.main([*first, "--shard-index", "0"]) == 0
    assert cli.main(["merge", str(shards), "--partial"]) == 1
    partial = [n for n in _mapping(shards) if n.startswith("unknown")]
    assert partial == ["unknown"] or len(partial) == 2, partial  # one value seen so far, or both
    assert cli.main([*first, "--shard-index", "1"]) == 0
    assert cli.main(["merge", str(shards)]) == 0
    for name in ("SAMed2D_v1.json", "SAMed2D_v1_class_mapping_id.json"):
        assert (shards / name).read_bytes() == (whole / name).read_bytes()
    assert sorted(p.name for p in (shards / "masks").iterdir()) == sorted(p.name for p in (whole / "masks").iterdir())


def test_a_declared_unknown_keeps_unnamed_values_apart(tmp_path):
    src = _unknown_folder(tmp_path / "src", {"a": 2})
    meta = json.loads((tmp_path / "src" / "dataset.json").read_text())
    meta["labels"]["unknown"] = 5
    (tmp_path / "src" / "dataset.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    assert cli.main(["convert", src, str(out), "--preset", "release", "-j", "1", "--no-progress"]) == 0
    assert _mapping(out)["unknown"] == "0005" and _mapping(out)["unknown_2"] == "0002"


def test_a_class_maps_unknown_id_is_the_unknown_class_s(tmp_path, capsys):
    """The release's workflow: --class-map with the release's ids, one unnamed value."""
    src = _unknown_folder(tmp_path / "src", {"a": 2})
    class_map = tmp_path / "map.json"
    class_map.write_text(json.dumps({"Kidneys": {"kidney": "0001", "unknown": "0009"}}))
    out = tmp_path / "out"
    assert cli.main(["convert", src, str(out), "--preset", "release", "--class-map", str(class_map), "-j", "1",
                     "--no-progress"]) == 0
    printed = capsys.readouterr().out
    mapping = _mapping(out)
    assert mapping == {"kidney": "0001", "unknown": "0009", "union_kidney_unknown": "0010"}
    assert "new class id 0010: Kidneys/union_kidney_unknown" in printed and "0009" not in printed
    assert {p.name.rsplit("--", 1)[1][:4] for p in (out / "masks").iterdir()} == {"0001", "0009", "0010"}
    assert cli.main(["verify", str(out), "--deep"]) == 0
