"""The ``samed2d`` command (issue #3; SPEC sections 1, 5 and 6).

Data sets are laid out the way users have them (MSD, nnU-Net v1 / v2, 2D folders, loose
files), built in temporary folders from the real cases in ``../shared/data`` where the real
data is the point and from small synthetic volumes elsewhere. Most runs call
``samed2d_fast.cli.main`` in this process with ``-j 1``; a real process is started where one
is needed (``python -m samed2d_fast``, ``-j 2``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from helpers import blob_labels, forbid_decoding, read_png, save_nifti
from reference_pipeline import (
    case_name_from_path,
    convert_case_ref,
    dataset_json_ref,
    declared_ref,
    in_test_ref,
    json_differences,
    output_json_ref,
)
from samed2d_fast import cli

OUTPUT_JSON = ("SAMed2D_v1.json", "SAMed2D_v1_class_mapping_id.json", "image2label_train.json",
               "label2image_test.json", "summary.json")
PENDING = re.compile(r"u[0-9a-f]{8}")
STATE_DIR = ".samed2d"  # the run's own bookkeeping inside OUT


# ---- helpers ---------------------------------------------------------------------------


def run(*argv) -> int:
    """``samed2d ARGV`` in this process; argparse's exits become return codes."""
    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def convert(*argv, workers: int = 1) -> int:
    return run("convert", *argv, "-j", workers, "--no-progress")


def run_captured(*argv):
    """(exit status, stdout, stderr) of ``samed2d ARGV`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(*argv)
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict:
    """Every path under ``root`` -> its bytes (None for a folder)."""
    root = Path(root)
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def assert_same_tree(a: Path, b: Path, ignore=()) -> None:
    ta = {k: v for k, v in tree(a).items() if not k.startswith(tuple(ignore))}
    tb = {k: v for k, v in tree(b).items() if not k.startswith(tuple(ignore))}
    assert sorted(set(ta) ^ set(tb)) == [], f"paths only in one of {a} and {b}"
    differ = [k for k in ta if ta[k] != tb[k]]
    assert differ == [], f"files whose bytes differ between {a} and {b}: {differ[:10]}"


def load(out: Path, name: str):
    return json.loads((Path(out) / name).read_text(encoding="utf-8"))


def canonical(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def split_hash(key: str) -> float:
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32


def case_of_image(image: str) -> str:
    """The case field of ``.../images/{modality}--{dataset}--{case}--{slice}.png``."""
    return image.rsplit("/", 1)[-1][: -len(".png")].split("--")[2]


def nnunet_json_ref(out: Path, sources, **options) -> dict:
    """The reference's text of every JSON file of ``samed2d convert SRC... OUT`` on nnU-Net
    folders: ``sources`` is [(folder, modality tag)]; each label file is a case whose
    channels are its ``{case}_NNNN`` images; the data set is dataset.json's name, else the
    folder's. ``options`` go to convert_case_ref."""
    converted, declared = [], {}
    for folder, modality in sources:
        name, class_names = dataset_json_ref(folder / "dataset.json")
        dataset = name or folder.name
        declared[dataset] = declared_ref(class_names)
        for label in sorted((folder / "labelsTr").iterdir()):
            case = case_name_from_path(label)
            channels = sorted((folder / "imagesTr").glob(f"{case}_[0-9][0-9][0-9][0-9].nii.gz"))
            converted.append(convert_case_ref(channels, label, dataset=dataset, modality=modality, case=case,
                                              class_names=class_names, **options))
    return output_json_ref(out.name, converted, declared)


def write_raw(root: Path, meta: dict, cases: dict) -> Path:
    """An MSD/nnU-Net raw folder: ``cases`` is {case: ([channel arrays], label array)};
    channels are written as nnU-Net's ``{case}_{c:04d}.nii.gz`` files."""
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for case, (channels, label) in cases.items():
        for c, data in enumerate(channels):
            save_nifti(root / "imagesTr" / f"{case}_{c:04d}.nii.gz", data)
        save_nifti(root / "labelsTr" / f"{case}.nii.gz", label)
    (root / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return root


def tiny_cases(rng, names, shape=(16, 16, 16), n_labels=3) -> dict:
    return {n: ([rng.integers(-200, 1200, shape).astype(np.int16)], blob_labels(shape, n_labels, rng))
            for n in names}


V2_LABELS = {"background": 0, "organ": 1, "tumour": 2, "vessel": 3}


def link_raw(shared: Path, dst: Path, extra_images=()) -> Path:
    """A user's copy of an nnU-Net v2 folder: its files linked, dataset.json copied."""
    for sub in ("imagesTr", "labelsTr"):
        (dst / sub).mkdir(parents=True)
        for f in sorted((shared / sub).iterdir()):
            (dst / sub / f.name).symlink_to(f)
    for name in extra_images:
        (dst / "imagesTr" / name).symlink_to(shared / "imagesTr" / "example_0000.nii.gz")
    shutil.copy(shared / "dataset.json", dst / "dataset.json")
    return dst


def v2_labels(shared: Path) -> dict:
    return json.loads((shared / "dataset.json").read_text())["labels"]


def sam_med2d_loader_check(out: Path) -> int:
    """Reads OUT's split files exactly as SAM-Med2D's DataLoader.py does: from the folder
    above OUT, with the paths as written, ``cv2.imread(image)`` and ``cv2.imread(mask, 0)``,
    masks divided by 255 must be binary, no image with an empty mask list. Returns the
    number of masks read."""
    cv2 = pytest.importorskip("cv2")
    out = Path(out)
    train = json.load(open(out / "image2label_train.json"))
    test = json.load(open(out / "label2image_test.json"))
    assert train or test, "both split files are empty"
    cwd = os.getcwd()
    os.chdir(out.parent)
    try:
        pairs = [(image, masks) for image, masks in train.items()]
        by_image = {}
        for mask, image in test.items():
            by_image.setdefault(image, []).append(mask)
        pairs += sorted(by_image.items())
        for image, masks in pairs:
            assert image.startswith(out.name + "/images/") and not os.path.isabs(image), image
            assert isinstance(masks, list) and masks, f"{image}: empty mask list"
            pixels = cv2.imread(image)
            assert pixels is not None, f"cv2.imread({image!r}) failed"
            assert pixels.ndim == 3 and pixels.shape[2] == 3, image
            for mask in masks:
                assert mask.startswith(out.name + "/masks/"), mask
                assert os.path.isfile(mask), f"{mask}: listed but missing"
                grey = cv2.imread(mask, 0)
                assert grey is not None, f"cv2.imread({mask!r}, 0) failed"
                assert grey.shape == pixels.shape[:2], mask
                assert grey.max() == 255, f"{mask}: empty mask"
                values = grey / 255
                assert np.array_equal(values, values.astype(bool)), f"{mask}: not binary after / 255"
    finally:
        os.chdir(cwd)
    return sum(len(m) for _, m in pairs)


# ---- the real data, converted once ---------------------------------------------------------


@pytest.fixture(scope="module")
def real_out(shared_data, tmp_path_factory):
    """The shared CT and MR (nnU-Net v2 folders) given together as two SRC."""
    out = tmp_path_factory.mktemp("real") / "out"
    code, stdout, stderr = run_captured(
        "convert", shared_data / "totalsegmentator_ct", shared_data / "totalsegmentator_mr", out,
        "-j", "1", "--no-progress")
    assert code == 0, stderr
    return out, stdout


def test_several_sources_nnunet_v2(real_out, shared_data):
    out, stdout = real_out
    release = load(out, "SAMed2D_v1.json")
    mapping = load(out, "SAMed2D_v1_class_mapping_id.json")
    summary = load(out, "summary.json")
    assert set(mapping) == {"totalsegmentator_ct", "totalsegmentator_mr"}
    for name in mapping:  # every declared class, with its label value as id
        declared = {k: v for k, v in v2_labels(shared_data / name).items() if v != 0}
        assert mapping[name] == {k: f"{v:04d}" for k, v in declared.items()}
    datasets = {image.split("/")[1].split("--")[1] for image in release}
    assert datasets == {"totalsegmentator_ct", "totalsegmentator_mr"}
    for image, masks in release.items():
        modality, dataset, case, slice_id = image[len("images/"):-len(".png")].split("--")
        assert modality == {"totalsegmentator_ct": "ct_00", "totalsegmentator_mr": "mr_00"}[dataset]
        assert case == "example"  # the nnU-Net channel suffix _0000 is dropped
        assert slice_id.startswith("z_")  # thin volumes: x and y slices fail the aspect filter
        assert masks, image
        keys = [(int(m.rsplit("--", 1)[1].split("_")[0]), int(m[:-4].rsplit("_", 1)[1])) for m in masks]
        assert keys == sorted(keys), image
    on_disk = {f"images/{p.name}" for p in (out / "images").iterdir()}
    assert on_disk == set(release)
    assert {f"masks/{p.name}" for p in (out / "masks").iterdir()} == {m for ms in release.values() for m in ms}
    assert summary["cases"] == 2 and summary["failed"] == 0 and summary["skipped_unlabelled"] == 0
    assert summary["images"] == len(release)
    assert summary["masks"] == sum(len(m) for m in release.values())
    assert set(summary["per_modality"]) == {"ct_00", "mr_00"}
    assert not (out / "failures.json").exists()
    assert "ct_00" in stdout and "mr_00" in stdout and str(summary["masks"]) in stdout


def test_json_files_equal_the_reference(real_out, shared_data):
    """Every JSON file, byte for byte, as the reference builds it from its own conversion of
    both volumes (names, mask order, class ids, split); summary.json in the SPEC's JSON form."""
    out, _ = real_out
    sources = [(shared_data / "totalsegmentator_ct", "ct_00"), (shared_data / "totalsegmentator_mr", "mr_00")]
    assert json_differences(out, nnunet_json_ref(out, sources)) == []
    text = (out / "summary.json").read_text(encoding="utf-8")
    assert text == canonical(json.loads(text)), "summary.json is not in the SPEC's JSON form"


def _leaves(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(obj=v)
    else:
        yield obj


def test_summary_holds_counts_and_warnings(real_out):
    """Counts only, and the warnings: each data set has one case, in the train part."""
    out, _ = real_out
    summary = load(out, "summary.json")
    warnings = summary.pop("warnings")
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in _leaves(summary))
    assert warnings == [f"data set {name}: the test part (label2image_test.json) is empty: none of its 1 case(s) "
                        f"falls in --test-fraction 0.2" for name in ("totalsegmentator_ct", "totalsegmentator_mr")]


def test_split_files_real(real_out):
    out, _ = real_out
    release = load(out, "SAMed2D_v1.json")
    train = load(out, "image2label_train.json")
    test = load(out, "label2image_test.json")
    listed = {f"out/{i}": [f"out/{m}" for m in ms] for i, ms in release.items() if ms}
    in_test = {i for i in listed if in_test_ref(i.split("--")[1], case_of_image(i))}
    assert train == {i: ms for i, ms in listed.items() if i not in in_test}  # masks in SPEC order
    assert test == {m: i for i in in_test for m in listed[i]}


def test_sam_med2d_loader_reads_real_output(real_out):
    out, _ = real_out
    assert sam_med2d_loader_check(out) > 300


def test_verify_ok_on_real_output(real_out):
    out, _ = real_out
    code, stdout, _ = run_captured("verify", out)
    assert code == 0, stdout
    assert "OK" in stdout


# ---- layouts ---------------------------------------------------------------------------------


def test_msd_4d_channels_are_images_of_one_case(shared_data, tmp_path):
    """MSD: a 4D image (FLAIR, T1w) made from the shared MR and an inverted copy of it."""
    mr = shared_data / "totalsegmentator_mr"
    src = nib.load(str(mr / "imagesTr" / "example_0000.nii.gz"))
    flair = np.asanyarray(src.dataobj)
    t1 = (900 - flair).astype(np.int16)
    labels_msd = {str(v): k for k, v in v2_labels(mr).items()}
    task = tmp_path / "Task99_MRTest"
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (task / sub).mkdir(parents=True)
    save_nifti(task / "imagesTr" / "mr_001.nii.gz", np.stack([flair, t1], axis=-1), src.affine, dtype=np.int16)
    (task / "labelsTr" / "mr_001.nii.gz").symlink_to(mr / "labelsTr" / "example.nii.gz")
    (task / "imagesTr" / "._mr_001.nii.gz").write_bytes(b"\0\5\26\7AppleDouble")  # macOS tar debris
    (task / "labelsTr" / "._mr_001.nii.gz").write_bytes(b"\0\5\26\7AppleDouble")
    (task / "imagesTs" / "mr_101.nii.gz").symlink_to(task / "imagesTr" / "mr_001.nii.gz")
    (task / "dataset.json").write_text(json.dumps({
        "name": "MRTest", "tensorImageSize": "4D", "modality": {"0": "FLAIR", "1": "T1w"},
        "labels": labels_msd, "numTraining": 1, "numTest": 1,
        "training": [{"image": "./imagesTr/mr_001.nii.gz", "label": "./labelsTr/mr_001.nii.gz"}],
        "test": ["./imagesTs/mr_101.nii.gz"]}))
    # The same MR alone, as an nnU-Net v2 FLAIR data set of the same name.
    single = tmp_path / "Dataset099_MRTest"
    (single / "imagesTr").mkdir(parents=True)
    (single / "labelsTr").mkdir()
    (single / "imagesTr" / "mr_001_0000.nii.gz").symlink_to(mr / "imagesTr" / "example_0000.nii.gz")
    (single / "labelsTr" / "mr_001.nii.gz").symlink_to(mr / "labelsTr" / "example.nii.gz")
    (single / "dataset.json").write_text(json.dumps(
        {"name": "MRTest", "channel_names": {"0": "FLAIR"}, "labels": v2_labels(mr)}))

    assert convert(task, tmp_path / "msd" / "out") == 0
    assert convert(single, tmp_path / "one" / "out") == 0
    msd, one = tmp_path / "msd" / "out", tmp_path / "one" / "out"
    release, release_one = load(msd, "SAMed2D_v1.json"), load(one, "SAMed2D_v1.json")
    flair_images = {i: m for i, m in release.items() if i.startswith("images/mr_flair--MRTest--mr_001--")}
    t1_images = {i: m for i, m in release.items() if i.startswith("images/mr_t1--MRTest--mr_001--")}
    assert len(flair_images) + len(t1_images) == len(release) and len(flair_images) >= 15
    assert flair_images == release_one  # channel 0 is exactly the 3D conversion of the MR
    for image, masks in flair_images.items():
        assert (msd / image).read_bytes() == (one / image).read_bytes()
        twin = image.replace("images/mr_flair--", "images/mr_t1--")
        assert t1_images[twin] == [m.replace("masks/mr_flair--", "masks/mr_t1--") for m in masks]
        assert read_png(msd / twin).shape == read_png(msd / image).shape
        assert (msd / twin).read_bytes() != (msd / image).read_bytes()
        for m in masks:
            other = m.replace("masks/mr_flair--", "masks/mr_t1--")
            assert (msd / m).read_bytes() == (msd / other).read_bytes() == (one / m).read_bytes()
    assert load(msd, "SAMed2D_v1_class_mapping_id.json") == load(one, "SAMed2D_v1_class_mapping_id.json")
    summary = load(msd, "summary.json")
    assert summary["cases"] == 1 and summary["skipped_unlabelled"] == 0
    assert set(summary["per_modality"]) == {"mr_flair", "mr_t1"}

    # --modality, one tag per channel, overrides dataset.json
    code, stdout, _ = run_captured("convert", task, tmp_path / "dry", "--dry-run", "--modality", "T2,ADC")
    assert code == 0 and "mr_t2 mr_adc" in stdout


def test_nnunet_v1_layout_and_unlabelled_images(shared_data, tmp_path):
    """nnU-Net v1: "modality" and {"1": "spleen"} labels, case_0000 files; an image without a
    label is skipped and counted. The result equals the shared v2 folder's, byte for byte."""
    ct = shared_data / "totalsegmentator_ct"
    v1 = tmp_path / "Task500_CT"
    for sub in ("imagesTr", "labelsTr"):
        (v1 / sub).mkdir(parents=True)
    (v1 / "imagesTr" / "example_0000.nii.gz").symlink_to(ct / "imagesTr" / "example_0000.nii.gz")
    (v1 / "imagesTr" / "nolabel_0000.nii.gz").symlink_to(ct / "imagesTr" / "example_0000.nii.gz")
    (v1 / "labelsTr" / "example.nii.gz").symlink_to(ct / "labelsTr" / "example.nii.gz")
    (v1 / "dataset.json").write_text(json.dumps({
        "name": "totalsegmentator_ct", "modality": {"0": "CT"},
        "labels": {str(v): k for k, v in v2_labels(ct).items()},
        "numTraining": 1, "training": [{"image": "./imagesTr/example.nii.gz", "label": "./labelsTr/example.nii.gz"}]}))
    v2 = link_raw(ct, tmp_path / "Dataset500_CT", extra_images=["nolabel_0000.nii.gz"])

    code, stdout, _ = run_captured("convert", v1, tmp_path / "v1" / "out", "-j", "1", "--no-progress")
    assert code == 0
    assert "1 image files without a label were skipped" in stdout.splitlines()
    assert convert(v2, tmp_path / "v2" / "out") == 0
    for out in (tmp_path / "v1" / "out", tmp_path / "v2" / "out"):
        summary = load(out, "summary.json")
        assert summary["skipped_unlabelled"] == 1 and summary["cases"] == 1 and summary["failed"] == 0
        assert not any("nolabel" in p.name for p in (out / "images").iterdir())
    assert_same_tree(tmp_path / "v1" / "out", tmp_path / "v2" / "out", ignore=(STATE_DIR,))


def test_nnunet_channel_files_with_one_modality_get_their_index(shared_data, tmp_path):
    """example_0000 (the shared CT) and example_0001 (a transformed copy), both "CT": every
    channel of the case gets its index appended; both land on one side of the split."""
    ct = shared_data / "totalsegmentator_ct"
    root = tmp_path / "TwoCT"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    src = nib.load(str(ct / "imagesTr" / "example_0000.nii.gz"))
    (root / "imagesTr" / "example_0000.nii.gz").symlink_to(ct / "imagesTr" / "example_0000.nii.gz")
    save_nifti(root / "imagesTr" / "example_0001.nii.gz",
               (np.asanyarray(src.dataobj) // 2 + 100).astype(np.int16), src.affine, dtype=np.int16)
    (root / "labelsTr" / "example.nii.gz").symlink_to(ct / "labelsTr" / "example.nii.gz")
    (root / "dataset.json").write_text(json.dumps(
        {"channel_names": {"0": "CT", "1": "CT"}, "labels": v2_labels(ct)}))
    out = tmp_path / "run" / "out"
    assert convert(root, out) == 0
    release = load(out, "SAMed2D_v1.json")
    cases = {case_of_image(i) for i in release}
    assert cases == {"example_0000", "example_0001"}
    assert all(i.startswith("images/ct_00--TwoCT--") for i in release)  # the folder's name
    for image in release:
        if "--example_0000--" in image:
            assert image.replace("--example_0000--", "--example_0001--") in release
    train, test = load(out, "image2label_train.json"), load(out, "label2image_test.json")
    in_test = split_hash("TwoCT--example") < 0.2
    assert (len(test) > 0) == in_test and (len(train) > 0) != in_test
    assert json_differences(out, nnunet_json_ref(out, [(root, "ct_00")])) == []


@pytest.mark.parametrize("channel, tag", [
    ("CT", "ct_00"), ("ct", "ct_00"), ("MR", "mr_00"), ("MRI", "mr_00"), ("mri", "mr_00"),
    ("T1", "mr_t1"), ("T1w", "mr_t1"), ("t1w", "mr_t1"), ("T1Gd", "mr_t1ce"), ("t1gd", "mr_t1ce"),
    ("T1ce", "mr_t1ce"), ("T1c", "mr_t1ce"), ("T2", "mr_t2"), ("T2w", "mr_t2"), ("FLAIR", "mr_flair"),
    ("Flair", "mr_flair"), ("ADC", "mr_adc"), ("adc", "mr_adc"), ("DWI", "mr_dwi"), ("PET", "pet_00"),
    ("pet", "pet_00"),
])
@pytest.mark.parametrize("key", ["channel_names", "modality"])
def test_modality_names(tmp_path, channel, tag, key):
    rng = np.random.default_rng(1)
    src = write_raw(tmp_path / "Mod", {key: {"0": channel}, "labels": V2_LABELS}, tiny_cases(rng, ["c1"], (8, 8, 8)))
    assert convert(src, tmp_path / "out") == 0
    images = load(tmp_path / "out", "SAMed2D_v1.json")
    assert images and all(i.startswith(f"images/{tag}--Mod--c1--") for i in images)


@pytest.mark.parametrize("channel", ["zscore", "noNorm", "rescale_to_0_1", "CT+contrast"])
def test_unknown_channel_name_asks_for_modality(tmp_path, channel):
    rng = np.random.default_rng(2)
    src = write_raw(tmp_path / "Norm", {"channel_names": {"0": channel}, "labels": V2_LABELS},
                    tiny_cases(rng, ["c1"], (8, 8, 8)))
    out = tmp_path / "out"
    code, _, stderr = run_captured("convert", src, out, "-j", "1", "--no-progress")
    assert code == 2
    assert "--modality" in stderr and channel in stderr
    assert not out.exists() or not any(out.iterdir())
    assert convert(src, out, "--modality", "CT") == 0
    assert all(i.startswith("images/ct_00--") for i in load(out, "SAMed2D_v1.json"))


def test_unknown_modality_tag_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    src = write_raw(tmp_path / "Mod", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, ["c1"], (8, 8, 8)))
    code, _, stderr = run_captured("convert", src, tmp_path / "out", "--modality", "xray_scan", "-j", "1")
    assert code == 2 and "xray_scan" in stderr


def _demo_2d_folder(shared_data: Path, root: Path, mask_dir: str) -> dict:
    """The SAM-Med2D demo slices as a 2D data set: one binary mask per image (its first
    instance mask), one image as JPEG, one image without a mask."""
    demo = shared_data / "sam_med2d_demo"
    (root / "images").mkdir(parents=True)
    (root / mask_dir).mkdir()
    masks = {}
    for image in sorted((demo / "images").iterdir()):
        stem = image.stem
        if stem == "amos_0507_31":
            shutil.copy(image, root / "images" / image.name)  # left without a mask
            continue
        if stem == "s0619_32":
            Image.open(image).convert("RGB").save(root / "images" / f"{stem}.jpg", quality=95)
        else:
            shutil.copy(image, root / "images" / image.name)
        first = sorted(p for p in (demo / "masks").iterdir() if p.name.startswith(stem + "_"))[0]
        shutil.copy(first, root / mask_dir / f"{stem}.png")
        masks[stem] = read_png(first) > 0
    return masks


@pytest.mark.parametrize("mask_dir", ["masks", "labels"])
def test_2d_folder_matched_by_stem(shared_data, tmp_path, mask_dir):
    from scipy import ndimage

    src = tmp_path / "Demo2D"
    masks = _demo_2d_folder(shared_data, src, mask_dir)
    out = tmp_path / "run" / "out"
    extra = []
    if mask_dir == "labels":
        (tmp_path / "classes.json").write_text(json.dumps({"organ": 1}))
        extra = ["--class-names", tmp_path / "classes.json"]
    assert convert(src, out, "--modality", "ct_00", *extra) == 0
    release = load(out, "SAMed2D_v1.json")
    assert {case_of_image(i) for i in release} == set(masks)
    class_name = "organ" if extra else "label_1"
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {"Demo2D": {class_name: "0001"}}
    for image, names in release.items():
        assert image.startswith("images/ct_00--Demo2D--") and image.endswith("--2d_none.png")
        pixels = read_png(out / image)
        assert pixels.ndim == 3 and pixels.shape[2] == 3  # RGB input stays colour
        union = np.zeros(pixels.shape[:2], bool)
        for name in names:
            assert re.search(r"--0001_\d{3}\.png$", name), name  # 0/255 masks are label 1
            m = read_png(out / name)
            assert set(np.unique(m)) == {0, 255}
            union |= m == 255
        # every component of the input mask comes out unless the small-mask filter drops it
        comps, n = ndimage.label(masks[case_of_image(image)], structure=np.ones((3, 3)))
        h, w = union.shape
        expected = np.isin(comps, [k for k in range(1, n + 1) if (comps == k).sum() * 65536 >= 100 * h * w])
        np.testing.assert_array_equal(union, expected, err_msg=image)
    class_names = {1: "organ"} if extra else None
    converted = [convert_case_ref(image, src / mask_dir / f"{image.stem}.png", dataset="Demo2D", modality="ct_00",
                                  case=image.stem, class_names=class_names, binary=True)
                 for image in sorted((src / "images").iterdir()) if image.stem in masks]
    expected = output_json_ref(out.name, converted, {"Demo2D": declared_ref(class_names)})
    assert json_differences(out, expected) == []
    summary = load(out, "summary.json")
    assert summary["cases"] == 4 and summary["skipped_unlabelled"] == 1
    assert sam_med2d_loader_check(out) >= 4


def test_2d_folder_needs_modality(shared_data, tmp_path):
    src = tmp_path / "Demo2D"
    _demo_2d_folder(shared_data, src, "masks")
    code, _, stderr = run_captured("convert", src, tmp_path / "out", "-j", "1")
    assert code == 2 and "--modality" in stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unrecognised_folder_is_refused(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.nii.gz").write_bytes(b"")
    code, _, stderr = run_captured("convert", tmp_path / "stuff", tmp_path / "out", "-j", "1")
    assert code == 2 and "--images" in stderr


def _loose_files(root: Path, rng, image_names, label_names):
    root.mkdir(parents=True, exist_ok=True)
    shape = (12, 12, 12)
    for name in image_names:
        save_nifti(root / name, rng.integers(0, 500, shape).astype(np.int16))
    for name in label_names:
        save_nifti(root / name, blob_labels(shape, 2, rng))


def test_globs_pair_by_case_name(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    _loose_files(tmp_path / "raw" / "img", rng, ["p01.nii.gz", "p02.nii.gz"], [])
    _loose_files(tmp_path / "raw" / "seg", rng, [], ["p01.nii.gz", "p02.nii.gz"])
    monkeypatch.chdir(tmp_path)
    code = convert("--images", "raw/img/*.nii.gz", "--labels", "raw/seg/*.nii.gz", "out",
                   "--modality", "CT", "--dataset", "Loose")
    assert code == 0
    release = load(tmp_path / "out", "SAMed2D_v1.json")
    assert {case_of_image(i) for i in release} == {"p01", "p02"}
    assert all(i.startswith("images/ct_00--Loose--") for i in release)


def test_globs_that_do_not_pair_are_listed(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    _loose_files(tmp_path / "raw" / "img", rng, ["p01.nii.gz", "p02.nii.gz", "p03.nii.gz"], [])
    _loose_files(tmp_path / "raw" / "seg", rng, [], ["p01.nii.gz", "p02.nii.gz", "p09.nii.gz"])
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_captured("convert", "--images", "raw/img/*.nii.gz", "--labels", "raw/seg/*.nii.gz",
                                   "out", "--modality", "CT", "-j", "1")
    assert code == 2
    assert "p03" in stderr and "p09" in stderr and "p01" not in stderr
    assert re.search(r"p03[^,\n]*image", stderr) and re.search(r"p09[^,\n]*label", stderr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_glob_example_of_the_help_works(tmp_path, monkeypatch):
    """The ``--images``/``--labels`` example printed by ``samed2d convert --help``, run as
    written on files its globs match (two cases)."""
    line = next(l for l in cli.EXAMPLES_CONVERT.splitlines() if "--images" in l)
    argv = shlex.split(line.split("#")[0])
    assert argv[:2] == ["samed2d", "convert"]
    argv = argv[1:]
    image_glob, label_glob = argv[argv.index("--images") + 1], argv[argv.index("--labels") + 1]
    rng = np.random.default_rng(5)
    monkeypatch.chdir(tmp_path)
    for case in ("p01", "p02"):
        for pattern, label in ((image_glob, False), (label_glob, True)):
            path = tmp_path / pattern.replace("*", case)
            path.parent.mkdir(parents=True, exist_ok=True)
            shape = (12, 12, 12)
            save_nifti(path, blob_labels(shape, 2, rng) if label else rng.integers(0, 500, shape).astype(np.int16))
    code, _, stderr = run_captured(*argv, "-j", "1", "--no-progress")
    assert code == 0, f"samed2d {' '.join(argv)} -> {code}: {stderr.strip()}"
    out = next(a for a in argv if not a.startswith("-") and a not in (image_glob, label_glob, "CT", "convert"))
    assert load(tmp_path / out, "summary.json")["cases"] == 2


@pytest.mark.parametrize("form", ["value_to_name", "name_to_value"])
def test_class_names_file(tmp_path, form):
    rng = np.random.default_rng(6)
    cases = tiny_cases(rng, ["c1", "c2"], n_labels=2)
    src = write_raw(tmp_path / "Cls", {"channel_names": {"0": "CT"}, "labels": {"background": 0, "x": 1, "y": 2}},
                    cases)
    names = {"1": "lésion", "2": "organ"} if form == "value_to_name" else {"lésion": 1, "organ": 2}
    (tmp_path / "names.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / form / "out"
    assert convert(src, out, "--class-names", tmp_path / "names.json") == 0
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {"Cls": {"lésion": "0001", "organ": "0002"}}
    assert '"lésion"' in (out / "SAMed2D_v1_class_mapping_id.json").read_text(encoding="utf-8")
    assert {k.split("/")[1] for k in load(out, "summary.json")["per_class"]} == {"lésion", "organ"}


def test_class_names_file_both_forms_give_the_same_bytes(tmp_path):
    rng = np.random.default_rng(6)
    src = write_raw(tmp_path / "Cls", {"channel_names": {"0": "CT"}}, tiny_cases(rng, ["c1", "c2"], n_labels=2))
    (tmp_path / "a.json").write_text(json.dumps({"1": "liver", "2": "spleen"}))
    (tmp_path / "b.json").write_text(json.dumps({"background": 0, "liver": 1, "spleen": 2}))
    # a dataset.json without labels needs --class-names
    code, _, stderr = run_captured("convert", src, tmp_path / "none" / "out", "-j", "1")
    assert code == 2 and "--class-names" in stderr
    assert convert(src, tmp_path / "a" / "out", "--class-names", tmp_path / "a.json") == 0
    assert convert(src, tmp_path / "b" / "out", "--class-names", tmp_path / "b.json") == 0
    assert_same_tree(tmp_path / "a" / "out", tmp_path / "b" / "out")


def test_dataset_option_and_default_name(tmp_path):
    rng = np.random.default_rng(7)
    src = write_raw(tmp_path / "Dataset042_Folder", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, ["c1"]))
    assert convert(src, tmp_path / "default" / "out") == 0  # no "name" in dataset.json: the folder's
    assert all(i.startswith("images/ct_00--Dataset042_Folder--c1--")
               for i in load(tmp_path / "default" / "out", "SAMed2D_v1.json"))
    assert convert(src, tmp_path / "named" / "out", "--dataset", "My CT/set") == 0
    out = tmp_path / "named" / "out"
    assert all(i.startswith("images/ct_00--My_CT_set--c1--") for i in load(out, "SAMed2D_v1.json"))
    assert set(load(out, "SAMed2D_v1_class_mapping_id.json")) == {"My_CT_set"}
    code, _, stderr = run_captured("convert", src, src, tmp_path / "two" / "out", "--dataset", "X", "-j", "1")
    assert code == 2 and "--dataset" in stderr


# ---- conversion options --------------------------------------------------------------------


def test_connectivity_4(tmp_path):
    src = tmp_path / "Diag"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    rng = np.random.default_rng(8)
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(src / "images" / "d1.png")
    lab = np.zeros((64, 64), np.uint8)
    lab[10:22, 10:22] = 1
    lab[22:34, 22:34] = 1  # touches the first square at one corner only
    Image.fromarray(lab).save(src / "masks" / "d1.png")
    assert convert(src, tmp_path / "c8" / "out", "--modality", "x_ray") == 0
    assert convert(src, tmp_path / "c4" / "out", "--modality", "x_ray", "--connectivity", "4") == 0
    (m8,) = load(tmp_path / "c8" / "out", "SAMed2D_v1.json").values()
    (m4,) = load(tmp_path / "c4" / "out", "SAMed2D_v1.json").values()
    assert [n[-14:] for n in m8] == ["--0001_000.png"]
    assert [n[-14:] for n in m4] == ["--0001_000.png", "--0001_001.png"]
    first = read_png(tmp_path / "c4" / "out" / m4[0]) == 255
    np.testing.assert_array_equal(first, np.pad(np.ones((12, 12), bool), ((10, 42), (10, 42))))


def test_consolidate_union_real_ct(shared_data, tmp_path):
    """Union classes get the ids after the largest declared id (117), in name order; no
    pending ``u........`` class field is left in any file name or output JSON."""
    out = tmp_path / "run" / "out"
    assert convert(shared_data / "totalsegmentator_ct", out, "--consolidate", "union") == 0
    mapping = load(out, "SAMed2D_v1_class_mapping_id.json")["totalsegmentator_ct"]
    unions = sorted(n for n in mapping if n.startswith("union_"))
    assert unions, "the real CT has enclosed structures"
    assert [mapping[n] for n in unions] == [f"{118 + i:04d}" for i in range(len(unions))]
    assert all(int(v) <= 117 for n, v in mapping.items() if not n.startswith("union_"))
    release = load(out, "SAMed2D_v1.json")
    union_ids = {mapping[n] for n in unions}
    assert any(m.rsplit("--", 1)[1][:4] in union_ids for ms in release.values() for m in ms)
    for path in out.rglob("*"):
        rel = path.relative_to(out)
        if rel.parts[0] == STATE_DIR:
            continue
        assert not PENDING.search(path.name.split("--")[-1]), rel
        if path.suffix == ".json":
            assert not re.search(r"--u[0-9a-f]{8}_|\"u[0-9a-f]{8}\"", path.read_text()), rel
    ct = [(shared_data / "totalsegmentator_ct", "ct_00")]
    assert json_differences(out, nnunet_json_ref(out, ct, consolidate="union")) == []
    code, stdout, _ = run_captured("verify", out)
    assert code == 0, stdout


def test_consolidate_union_id_follows_declared_ids(tmp_path):
    """A union class of a synthetic data set whose largest declared id (9) is not present."""
    shape = (20, 20, 20)
    lab = np.zeros(shape, np.uint8)
    lab[3:17, 3:17, 3:17] = 1
    lab[7:12, 7:12, 7:12] = 2
    rng = np.random.default_rng(9)
    src = write_raw(tmp_path / "Nest", {"channel_names": {"0": "CT"},
                                        "labels": {"background": 0, "organ": 1, "tumour": 2, "unused": 9}},
                    {"n1": ([rng.integers(0, 900, shape).astype(np.int16)], lab)})
    out = tmp_path / "run" / "out"
    assert convert(src, out, "--consolidate", "union") == 0
    mapping = load(out, "SAMed2D_v1_class_mapping_id.json")["Nest"]
    assert mapping == {"organ": "0001", "tumour": "0002", "unused": "0009", "union_organ_tumour": "0010"}
    names = [p.name for p in (out / "masks").iterdir()]
    assert any(n.endswith("--0010_000.png") for n in names)
    assert not any(PENDING.search(n) for n in names)
    for name in OUTPUT_JSON:
        assert not PENDING.search((out / name).read_text()), name


def test_ignore_label_and_regions(tmp_path):
    """dataset.json: a label called ``ignore`` is background but its value counts for the ids of
    union classes; an nnU-Net v2 region (a list of values) is not a class."""
    shape = (20, 20, 20)
    lab = np.zeros(shape, np.uint8)
    lab[3:17, 3:17, 3:17] = 1
    lab[7:12, 7:12, 7:12] = 2
    lab[0:2, 0:2, :] = 12
    rng = np.random.default_rng(21)
    src = write_raw(tmp_path / "Ign", {"channel_names": {"0": "CT"},
                                       "labels": {"background": 0, "organ": 1, "tumour": 2, "ignore": 12,
                                                  "whole": [1, 2]}},
                    {"n1": ([rng.integers(0, 900, shape).astype(np.int16)], lab)})
    out = tmp_path / "run" / "out"
    assert convert(src, out, "--consolidate", "union") == 0
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {
        "Ign": {"organ": "0001", "tumour": "0002", "union_organ_tumour": "0013"}}
    assert not any("--0012_" in p.name for p in (out / "masks").iterdir())


def test_binary_masks_are_decided_per_2d_data_set(tmp_path):
    """A 2D data set whose masks hold only 0 and 255 is binary (255 is label 1); in one whose
    masks also hold other values, 255 stays label 255."""
    rng = np.random.default_rng(22)
    binary_mask = np.zeros((64, 64), np.uint8)
    binary_mask[8:40, 8:40] = 255
    coded = np.zeros((64, 64), np.uint8)
    coded[30:60, 30:60] = 2
    for name, masks in (("Bin", [binary_mask, np.zeros((64, 64), np.uint8)]), ("Coded", [binary_mask, coded])):
        src = tmp_path / name
        (src / "images").mkdir(parents=True)
        (src / "masks").mkdir()
        for i, mask in enumerate(masks):
            Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(src / "images" / f"m{i}.png")
            Image.fromarray(mask).save(src / "masks" / f"m{i}.png")
        assert convert(src, tmp_path / name.lower() / "out", "--modality", "x_ray") == 0
    assert load(tmp_path / "bin" / "out", "SAMed2D_v1.json") == {
        "images/x_ray--Bin--m0--2d_none.png": ["masks/x_ray--Bin--m0--2d_none--0001_000.png"]}
    assert load(tmp_path / "coded" / "out", "SAMed2D_v1.json") == {
        "images/x_ray--Coded--m0--2d_none.png": ["masks/x_ray--Coded--m0--2d_none--0255_000.png"],
        "images/x_ray--Coded--m1--2d_none.png": ["masks/x_ray--Coded--m1--2d_none--0002_000.png"]}


def test_nnunet_v2_with_png_files(tmp_path):
    """nnU-Net v2 2D data sets (``file_ending`` .png): case_0000.png images, value-coded labels."""
    src = tmp_path / "Dataset777_Png"
    (src / "imagesTr").mkdir(parents=True)
    (src / "labelsTr").mkdir()
    rng = np.random.default_rng(23)
    for case in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(src / "imagesTr" / f"{case}_0000.png")
        lab = np.zeros((64, 64), np.uint8)
        lab[10:30, 10:30] = 1
        lab[40:60, 40:60] = 2
        Image.fromarray(lab).save(src / "labelsTr" / f"{case}.png")
    (src / "dataset.json").write_text(json.dumps({"channel_names": {"0": "X-ray"}, "labels": {"background": 0, "x": 1, "y": 2},
                                                  "file_ending": ".png"}))
    out = tmp_path / "run" / "out"
    assert run_captured("convert", src, out, "-j", "1")[0] == 2  # "X-ray" is no channel name of the table
    assert convert(src, out, "--modality", "x_ray") == 0
    release = load(out, "SAMed2D_v1.json")
    assert sorted(release) == ["images/x_ray--Dataset777_Png--a--2d_none.png", "images/x_ray--Dataset777_Png--b--2d_none.png"]
    assert all([m[-14:] for m in ms] == ["--0001_000.png", "--0002_000.png"] for ms in release.values())


def _box_case(shape=(20, 20, 20)):
    lab = np.zeros(shape, np.uint8)
    lab[5:15, 5:15, 8:12] = 1
    img = np.random.default_rng(10).integers(-500, 500, shape).astype(np.int16)
    return {"b1": ([img], lab)}


def test_keep_empty(tmp_path):
    src = write_raw(tmp_path / "Box", {"channel_names": {"0": "CT"}, "labels": V2_LABELS}, _box_case())
    assert convert(src, tmp_path / "plain" / "out", "--test-fraction", "0") == 0
    assert convert(src, tmp_path / "keep" / "out", "--test-fraction", "0", "--keep-empty") == 0
    plain, keep = load(tmp_path / "plain" / "out", "SAMed2D_v1.json"), load(tmp_path / "keep" / "out", "SAMed2D_v1.json")
    assert len(plain) == 10 + 10 + 4 and all(plain.values())
    assert len(keep) == 60 and {i: m for i, m in keep.items() if m} == plain
    assert len(list((tmp_path / "keep" / "out" / "images").iterdir())) == 60
    # images without masks are left out of the split files
    assert load(tmp_path / "keep" / "out", "image2label_train.json") == \
        load(tmp_path / "plain" / "out", "image2label_train.json")
    assert run_captured("verify", tmp_path / "keep" / "out")[0] == 0


def test_rgb(tmp_path):
    src = write_raw(tmp_path / "Box", {"channel_names": {"0": "CT"}, "labels": V2_LABELS}, _box_case())
    assert convert(src, tmp_path / "grey" / "out") == 0
    assert convert(src, tmp_path / "rgb" / "out", "--rgb") == 0
    grey, rgb = tmp_path / "grey" / "out", tmp_path / "rgb" / "out"
    assert load(grey, "SAMed2D_v1.json") == load(rgb, "SAMed2D_v1.json")
    for image in load(grey, "SAMed2D_v1.json"):
        g, c = read_png(grey / image), read_png(rgb / image)
        assert g.ndim == 2 and c.shape == g.shape + (3,)
        for ch in range(3):
            np.testing.assert_array_equal(c[..., ch], g)
    assert_same_tree(grey / "masks", rgb / "masks")
    assert sam_med2d_loader_check(rgb) > 0


@pytest.mark.parametrize("fraction", ["0", "1"])
def test_test_fraction_extremes(tmp_path, fraction):
    rng = np.random.default_rng(11)
    src = write_raw(tmp_path / "Frac", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, [f"c{i}" for i in range(4)], (12, 12, 12)))
    out = tmp_path / "run" / "out"
    assert convert(src, out, "--test-fraction", fraction) == 0
    release = load(out, "SAMed2D_v1.json")
    train, test = load(out, "image2label_train.json"), load(out, "label2image_test.json")
    n_masks = sum(len(m) for m in release.values())
    if fraction == "0":
        assert test == {} and len(train) == sum(1 for m in release.values() if m)
    else:
        assert train == {} and len(test) == n_masks
    code, _, stderr = run_captured("convert", src, tmp_path / "bad", "--test-fraction", "1.5")
    assert code == 2


def test_split_is_by_case_with_the_spec_hash(tmp_path):
    rng = np.random.default_rng(12)
    names = [f"c{i:02d}" for i in range(12)]
    src = write_raw(tmp_path / "Split", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, names, (12, 12, 12)))
    out = tmp_path / "run" / "out"
    assert convert(src, out) == 0
    train, test = load(out, "image2label_train.json"), load(out, "label2image_test.json")
    train_cases = {case_of_image(i) for i in train}
    test_cases = {case_of_image(i) for i in test.values()}
    assert not train_cases & test_cases
    assert train_cases | test_cases == set(names)
    assert test_cases == {n for n in names if split_hash(f"Split--{n}") < 0.2}
    assert test_cases and train_cases
    assert json_differences(out, nnunet_json_ref(out, [(src, "ct_00")])) == []
    assert all(k.startswith("out/") for k in [*train, *test])
    for image in {*train, *test.values()}:
        assert (tmp_path / "run" / image).is_file()


# ---- workers, OUT handling --------------------------------------------------------------------


def test_workers_1_and_2_give_identical_bytes(shared_data, tmp_path):
    rng = np.random.default_rng(13)
    syn = write_raw(tmp_path / "Syn", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, [f"s{i}" for i in range(6)], (24, 24, 24), n_labels=4))
    ct = shared_data / "totalsegmentator_ct"
    assert convert(syn, ct, tmp_path / "j1" / "out", "--consolidate", "union", workers=1) == 0
    assert convert(syn, ct, tmp_path / "j2" / "out", "--consolidate", "union", workers=2) == 0
    assert_same_tree(tmp_path / "j1" / "out", tmp_path / "j2" / "out")
    assert load(tmp_path / "j1" / "out", "summary.json")["cases"] == 7


@pytest.fixture
def small_src(tmp_path):
    rng = np.random.default_rng(14)
    return write_raw(tmp_path / "Small", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                     tiny_cases(rng, ["a", "b"]))


def test_non_empty_out_is_refused(small_src, tmp_path):
    """Somebody's folder is never written; an earlier run's output needs --resume. Neither
    message advises --overwrite, which would destroy data."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, stderr = run_captured("convert", small_src, out, "-j", "1")
    assert code == 2
    assert "holds no samed2d output" in stderr and "choose another OUT" in stderr and "--overwrite" not in stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    # an earlier run's output is refused as well
    assert convert(small_src, tmp_path / "run" / "out") == 0
    before = tree(tmp_path / "run" / "out")
    code, _, stderr = run_captured("convert", small_src, tmp_path / "run" / "out", "-j", "1")
    assert code == 2 and "add --resume" in stderr and "--overwrite" not in stderr
    assert tree(tmp_path / "run" / "out") == before
    # OUT that is a file
    (tmp_path / "file").write_text("x")
    code, _, stderr = run_captured("convert", small_src, tmp_path / "file", "-j", "1")
    assert code == 2 and "is not a folder" in stderr
    assert (tmp_path / "file").read_text() == "x"


def test_overwrite_replaces_an_earlier_run(small_src, tmp_path):
    out = tmp_path / "run" / "out"
    assert convert(small_src, out) == 0
    fresh = tree(out)
    next((out / "masks").iterdir()).unlink()
    (out / "SAMed2D_v1.json").write_text("{}")
    assert convert(small_src, out, "--overwrite") == 0
    assert tree(out) == fresh
    assert run_captured("verify", out)[0] == 0
    # --resume on a complete output changes nothing
    assert convert(small_src, out, "--resume") == 0
    assert tree(out) == fresh


# ---- dry run -----------------------------------------------------------------------------------




def test_dry_run_reads_headers_only(shared_data, tmp_path, monkeypatch):
    ct = link_raw(shared_data / "totalsegmentator_ct", tmp_path / "CT", extra_images=["nolabel_0000.nii.gz"])
    forbid_decoding(monkeypatch)
    out = tmp_path / "out"
    code, stdout, stderr = run_captured("convert", ct, shared_data / "totalsegmentator_mr", out, "--dry-run")
    assert code == 0, stderr
    assert not out.exists()
    assert "totalsegmentator_ct" in stdout and "totalsegmentator_mr" in stdout
    assert "example" in stdout and "ct_00" in stdout and "mr_00" in stdout
    assert "liver" in stdout and "costal_cartilages" in stdout  # classes
    assert re.search(r"\b30 slices", stdout) and re.search(r"\b20 slices", stdout)  # z only
    assert re.search(r"\b1 images? without a label", stdout)
    with pytest.raises(AssertionError):  # the guard itself works
        np.asarray(nib.load(str(shared_data / "totalsegmentator_ct" / "labelsTr" / "example.nii.gz")).dataobj)


def test_dry_run_2d_and_existing_out(shared_data, tmp_path, monkeypatch):
    src = tmp_path / "Demo2D"
    _demo_2d_folder(shared_data, src, "masks")
    forbid_decoding(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = run_captured("convert", src, out, "--modality", "ct_00", "--dry-run")
    assert code == 0, stderr
    assert list(out.iterdir()) == []
    for stem in ("amos_0004_75", "amos_0006_90", "s0114_111", "s0619_32"):
        assert stem in stdout
    assert "ct_00" in stdout


def test_dry_run_reports_what_does_not_fit(tmp_path):
    shape = (12, 12, 12)
    rng = np.random.default_rng(15)
    src = write_raw(tmp_path / "Bad", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    {"ok": ([rng.integers(0, 9, shape).astype(np.int16)], blob_labels(shape, 2, rng)),
                     "odd": ([rng.integers(0, 9, shape).astype(np.int16)], blob_labels((12, 12, 10), 2, rng))})
    code, stdout, _ = run_captured("convert", src, tmp_path / "out", "--dry-run")
    assert code == 1
    assert "odd" in stdout and not (tmp_path / "out").exists()


# ---- failures --------------------------------------------------------------------------------


@pytest.fixture
def broken_src(tmp_path):
    """a_trunc: truncated image; b_good; c_shape: label of another shape; d_good."""
    rng = np.random.default_rng(16)
    shape = (24, 24, 24)
    cases = {n: ([rng.integers(-1000, 1000, shape).astype(np.int16)], blob_labels(shape, 3, rng))
             for n in ("a_trunc", "b_good", "c_shape", "d_good")}
    cases["c_shape"] = (cases["c_shape"][0], blob_labels((24, 24, 20), 3, rng))
    src = write_raw(tmp_path / "Broken", {"channel_names": {"0": "CT"}, "labels": V2_LABELS}, cases)
    trunc = src / "imagesTr" / "a_trunc_0000.nii.gz"
    data = trunc.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    return src


def test_failing_cases_are_reported_and_the_run_goes_on(broken_src, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_captured("convert", broken_src, out, "-j", "1", "--no-progress")
    assert code == 1
    failures = load(out, "failures.json")
    assert (out / "failures.json").read_text(encoding="utf-8") == canonical(failures)
    assert {f["case"] for f in failures} == {"Broken--a_trunc", "Broken--c_shape"}
    errors = {f["case"]: f["error"] for f in failures}
    assert "a_trunc_0000.nii.gz" in errors["Broken--a_trunc"]
    assert "c_shape" in errors["Broken--c_shape"]
    for e in errors.values():
        assert "\n" not in e
    lines = [l for l in stderr.splitlines() if "a_trunc" in l or "c_shape" in l]
    assert len(lines) == 2, stderr  # one line per failed case, naming its file
    assert any("a_trunc_0000.nii.gz" in l for l in lines)
    assert any("c_shape" in l and ".nii.gz" in l for l in lines)
    cases = {case_of_image(i) for i in load(out, "SAMed2D_v1.json")}
    assert cases == {"b_good", "d_good"}
    assert not any("a_trunc" in p.name or "c_shape" in p.name for p in out.rglob("*") if STATE_DIR not in p.parts)
    summary = load(out, "summary.json")
    assert summary["failed"] == 2 and summary["cases"] == 2
    assert f"2 case(s) FAILED (also in {out / 'failures.json'}):" in stdout.splitlines()
    code, stdout, _ = run_captured("verify", out)  # consistent, but not complete
    assert code == 1 and f"  {out / 'failures.json'}: 2 case(s) failed to convert" in stdout.splitlines()


def test_cases_whose_cleaned_names_collide_both_fail(tmp_path):
    rng = np.random.default_rng(19)
    src = write_raw(tmp_path / "Col", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, ["p 1", "p_1", "q"]))
    out = tmp_path / "out"
    code, _, _ = run_captured("convert", src, out, "-j", "1", "--no-progress")
    assert code == 1
    (failure,) = load(out, "failures.json")
    assert "p 1_0000.nii.gz" in failure["error"] and "p_1_0000.nii.gz" in failure["error"]
    assert {case_of_image(i) for i in load(out, "SAMed2D_v1.json")} == {"q"}
    code, stdout, _ = run_captured("convert", src, tmp_path / "dry", "--dry-run")
    assert code == 1 and "p_1" in stdout


def test_fail_fast_stops_at_the_first_failure(broken_src, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = run_captured("convert", broken_src, out, "-j", "1", "--no-progress", "--fail-fast")
    assert code == 1
    assert [f["case"] for f in load(out, "failures.json")] == ["Broken--a_trunc"]
    assert not (out / "images").exists() or not any((out / "images").iterdir())
    assert load(out, "SAMed2D_v1.json") == {}


def test_failed_case_is_retried_on_resume(broken_src, tmp_path):
    out = tmp_path / "out"
    assert convert(broken_src, out) == 1
    for name in ("a_trunc_0000.nii.gz",):
        rng = np.random.default_rng(17)
        save_nifti(broken_src / "imagesTr" / name, rng.integers(0, 9, (24, 24, 24)).astype(np.int16))
    (broken_src / "labelsTr" / "c_shape.nii.gz").unlink()  # c_shape now has no label: skipped
    assert convert(broken_src, out, "--resume") == 0
    assert not (out / "failures.json").exists()
    assert {case_of_image(i) for i in load(out, "SAMed2D_v1.json")} == {"a_trunc", "b_good", "d_good"}


# ---- verify -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(18)
    src = write_raw(tmp / "Good", {"channel_names": {"0": "CT"}, "labels": V2_LABELS},
                    tiny_cases(rng, ["g1", "g2"]))
    assert convert(src, tmp / "run" / "out") == 0
    return tmp / "run" / "out"


@pytest.mark.parametrize("damage", ["delete_mask", "unlisted_image", "unlisted_mask", "three_valued_mask",
                                    "truncated_image"])
def test_verify_lists_problems(good_out, tmp_path, damage):
    out = tmp_path / "out"
    shutil.copytree(good_out, out)
    release = load(out, "SAMed2D_v1.json")
    image = sorted(release)[0]
    mask = release[image][0]
    if damage == "delete_mask":
        (out / mask).unlink()
        named = mask
    elif damage == "unlisted_image":
        named = "images/ct_00--Good--g9--z_0000.png"
        shutil.copy(out / image, out / named)
    elif damage == "unlisted_mask":
        named = mask.replace(".png", "").rsplit("_", 1)[0] + "_999.png"
        shutil.copy(out / mask, out / named)
    elif damage == "three_valued_mask":
        h, w = read_png(out / mask).shape
        values = np.zeros((h, w), np.uint8)
        values[: h // 2] = 128
        values[: h // 4] = 255
        Image.fromarray(values).save(out / mask)
        named = mask
    else:
        data = (out / image).read_bytes()
        (out / image).write_bytes(data[: len(data) // 2])
        named = image
    code, stdout, _ = run_captured("verify", out)
    assert code == 1
    assert named in stdout


def test_verify_ok_and_missing_out(good_out, tmp_path):
    assert run_captured("verify", good_out)[0] == 0
    code, stdout, _ = run_captured("verify", tmp_path / "nothing")
    assert code == 1 and stdout.startswith(f"{tmp_path / 'nothing'}: ")


# ---- demo and help ------------------------------------------------------------------------------


def test_demo(tmp_path, capsys):
    root = tmp_path / "demo"
    code = run("demo", root, "-j", "2", "--no-progress")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = root / "SAMed2Dv1"
    assert str(out.resolve()) in captured.out
    assert run("verify", out) == 0
    summary = load(out, "summary.json")
    assert summary["cases"] >= 3 and summary["failed"] == 0 and summary["masks"] > 100
    assert {"ct_00", "dermoscopy_00"} <= set(summary["per_modality"])
    assert sam_med2d_loader_check(out) > 100


def test_help(capsys):
    assert run("--help") == 0
    text = capsys.readouterr().out
    for command in ("convert", "verify", "demo"):
        assert command in text


def _subcommands():
    import argparse

    actions = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices) if actions else []


def test_subcommands_include_the_issue_s():
    assert {"convert", "verify", "demo"} <= set(_subcommands())


@pytest.mark.parametrize("command", _subcommands())
def test_subcommand_help_has_examples(capsys, command):
    assert run(command, "--help") == 0
    text = capsys.readouterr().out
    assert "example" in text.lower()
    assert f"samed2d {command}" in text


def test_convert_help_names_every_option(capsys):
    assert run("convert", "--help") == 0
    text = capsys.readouterr().out
    for option in ("--images", "--labels", "--dataset", "--modality", "--class-names", "--dry-run",
                   "--connectivity", "--consolidate", "--keep-empty", "--rgb", "--test-fraction",
                   "--workers", "--resume", "--overwrite", "--fail-fast", "--no-progress"):
        assert option in text, option


def test_python_m_and_console_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "samed2d_fast", "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "convert" in proc.stdout and "samed2d" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "samed2d_fast", "convert", str(tmp_path / "nope"),
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "nope" in proc.stderr
    script = shutil.which("samed2d") or (Path(sys.executable).parent / "samed2d")
    if not Path(script).exists():
        pytest.skip("the samed2d console script is not on PATH")
    proc = subprocess.run([str(script), "verify", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "example" in proc.stdout
