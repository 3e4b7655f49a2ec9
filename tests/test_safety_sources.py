"""Issue 10: how sources are found and checked before a run (items 8, 10, 11, 13, 17, 18,
21, 22 and 27).

Each test builds the issue's setup in a temporary folder, runs ``samed2d`` in this process
(``samed2d_fast.cli.main``), and checks the required behaviour, the exact message, and that
no byte of the inputs changed (``unchanged``: a hash of every file under SRC, symbolic links
and FIFOs by what they are, before and after).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Dict, Iterable

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from helpers import forbid_decoding, save_nifti
from samed2d_fast import cli, datasets, headers
from samed2d_fast.datasets import (
    SKIP_DUPLICATE,
    SKIP_FOLDER,
    SKIP_HIDDEN,
    SKIP_LABEL_ALONE,
    SKIP_LOOP,
    SKIP_NOT_2D,
    SKIP_UNUSED_LABELS,
    find_dataset,
    find_globs,
)
from samed2d_fast.inputs import InputError
from samed2d_fast.inputs.image2d import Image2D
from samed2d_fast.phantom import DEMO_CT_SHAPE, write_demo_dataset
from samed2d_fast.printable import printable
from samed2d_fast.slicing import kept_axes

LABELS = {"background": 0, "organ": 1, "lesion": 2}
META = {"channel_names": {"0": "CT"}, "labels": LABELS}
SHAPE = (12, 12, 12)
IMAGE_SUFFIXES = Image2D.suffixes


# ---- helpers ---------------------------------------------------------------------------------


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``samed2d ARGV`` run in this process."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def convert(capsys, *argv):
    return run(capsys, "convert", *argv, "-j", "1", "--no-progress")


def snapshot(root: Path) -> Dict[str, object]:
    """Every entry under ``root``, links not followed: a file's sha256, a link's target."""
    found: Dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[os.path.relpath(path, root)] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                found[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                found[os.path.relpath(path, root)] = ("type", stat.S_IFMT(mode))
    return found


@contextlib.contextmanager
def unchanged(*roots: Path):
    """The body must leave every byte, link and file under ``roots`` as it was."""
    before = [snapshot(r) for r in roots]
    yield
    assert [snapshot(r) for r in roots] == before, "an input changed"


def image_volume(rng, shape=SHAPE) -> np.ndarray:
    return rng.integers(-100, 400, shape).astype(np.int16)


def label_volume(shape=SHAPE) -> np.ndarray:
    lab = np.zeros(shape, np.uint8)
    lab[2:7, 2:7, 2:7] = 1
    lab[7:11, 3:9, 4:10] = 2
    return lab


def nnunet(root: Path, cases: Iterable[str], meta=META, rng=None) -> Path:
    """An nnU-Net v2 folder of 12^3 cases, one CT channel each."""
    rng = rng or np.random.default_rng(0)
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for case in cases:
        save_nifti(root / "imagesTr" / f"{case}_0000.nii.gz", image_volume(rng))
        save_nifti(root / "labelsTr" / f"{case}.nii.gz", label_volume())
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")
    return root


def label_2d(size=(32, 32)) -> np.ndarray:
    lab = np.zeros(size, np.uint8)
    lab[4:16, 4:16] = 1
    lab[18:30, 10:28] = 2
    return lab


def colour_2d(rng, size=(32, 32)) -> np.ndarray:
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def folder_2d(root: Path, stems: Iterable[str], rng=None) -> Path:
    """A 2D folder: images/{stem}.png (RGB) and masks/{stem}.png (labels 0, 1, 2)."""
    rng = rng or np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem in stems:
        Image.fromarray(colour_2d(rng)).save(root / "images" / f"{stem}.png")
        Image.fromarray(label_2d()).save(root / "masks" / f"{stem}.png")
    return root


def load(out: Path, name: str):
    return json.loads((out / name).read_text(encoding="utf-8"))


def failures(out: Path) -> Dict[str, str]:
    path = out / "failures.json"
    return {f["case"]: f["error"] for f in json.loads(path.read_text(encoding="utf-8"))} if path.exists() else {}


def converted_cases(out: Path) -> set:
    return {image.split("--")[2] for image in load(out, "SAMed2D_v1.json")}


def assert_not_written(out: Path) -> None:
    assert not out.exists(), f"{out} was created"


# ---- item 8: --dataset names each SRC, in order -------------------------------------------------


def test_dataset_is_repeatable_and_renames_each_src(tmp_path, capsys):
    """Two SRC folders whose dataset.json say the same name, with other label names: one
    --dataset per SRC gives each its own data set (and its own class ids)."""
    a = nnunet(tmp_path / "A", ["a1"], {**META, "name": "Same", "labels": {"background": 0, "liver": 1}})
    b = nnunet(tmp_path / "B", ["b1"], {**META, "name": "Same", "labels": {"background": 0, "spleen": 1}})
    out = tmp_path / "out"
    with unchanged(a, b):
        code, _, err = convert(capsys, a, b, out, "--dataset", "LiverSet", "--dataset", "SpleenSet")
    assert code == 0, err
    assert load(out, "SAMed2D_v1_class_mapping_id.json") == {"LiverSet": {"liver": "0001", "label_2": "0002"},
                                                              "SpleenSet": {"spleen": "0001", "label_2": "0002"}}
    assert {tuple(image.split("--")[1:3]) for image in load(out, "SAMed2D_v1.json")} == {("LiverSet", "a1"),
                                                                                         ("SpleenSet", "b1")}


@pytest.mark.parametrize("names, message", [
    (["X"], "--dataset given 1 time(s) for 2 SRC folders: give one name per SRC, in the order of the SRCs"),
    (["X", "Y", "Z"], "--dataset given 3 time(s) for 2 SRC folders: give one name per SRC, in the order of the SRCs"),
    (["X", " "], "--dataset: a data set name cannot be empty"),
])
def test_dataset_names_must_match_the_srcs(tmp_path, capsys, names, message):
    a, b = nnunet(tmp_path / "A", ["a1"]), nnunet(tmp_path / "B", ["b1"])
    out = tmp_path / "out"
    with unchanged(a, b):
        code, stdout, err = convert(capsys, a, b, out, *[x for n in names for x in ("--dataset", n)])
    assert (code, stdout, err) == (2, "", f"samed2d convert: error: {message}\n")
    assert_not_written(out)


def test_dataset_with_globs_is_one_name(tmp_path, capsys, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    save_nifti(raw / "p01_ct.nii.gz", image_volume(np.random.default_rng(1)))
    save_nifti(raw / "p01_seg.nii.gz", label_volume())
    monkeypatch.chdir(tmp_path)
    globs = ("--images", "raw/*_ct.nii.gz", "--labels", "raw/*_seg.nii.gz", "--modality", "CT")
    with unchanged(raw):
        code, _, err = convert(capsys, *globs, "out", "--dataset", "X", "--dataset", "Y")
        assert (code, err) == (2, "samed2d convert: error: --dataset given 2 times: --images/--labels make one "
                                  "data set\n")
        assert_not_written(tmp_path / "out")
        code, _, err = convert(capsys, *globs, "out", "--dataset", "Loose")
    assert code == 0, err
    assert set(load(tmp_path / "out", "SAMed2D_v1_class_mapping_id.json")) == {"Loose"}


# ---- item 10: symbolic link loops and duplicates by real path ------------------------------------


def _loose_case(folder: Path, case: str, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_nifti(folder / f"{case}_ct.nii.gz", image_volume(rng))
    save_nifti(folder / f"{case}_seg.nii.gz", label_volume())


def test_symlink_loop_under_a_double_star_glob_is_not_followed(tmp_path, capsys, monkeypatch):
    """``raw/loop -> .``: glob.glob(recursive=True) gives the one volume once per level of
    ``loop/loop/...``; two such links make it exponential. Each case converts once, the loops
    are counted as skipped."""
    raw = tmp_path / "raw"
    _loose_case(raw / "ct", "p01", np.random.default_rng(2))
    (raw / "loop").symlink_to(".")
    monkeypatch.chdir(tmp_path)
    images, labels = "raw/**/*_ct.nii.gz", "raw/**/*_seg.nii.gz"
    assert len(glob.glob(images, recursive=True)) > 10  # the loop, as glob sees it
    (raw / "ct" / "back").symlink_to("..")  # with two loops glob would not end
    ds = find_globs(images, labels, None, ["CT"], None)
    assert [(c.case, c.images, c.label) for c in ds.cases] == [
        ("ct/p01", ("raw/ct/p01_ct.nii.gz",), "raw/ct/p01_seg.nii.gz")]
    assert ds.skipped == {SKIP_LOOP: ["raw/ct/back", "raw/loop"]}
    with unchanged(raw):
        code, _, err = convert(capsys, "--images", images, "--labels", labels, "--modality", "CT", "out")
    assert code == 0, err
    summary = load(tmp_path / "out", "summary.json")
    assert summary["cases"] == 1 and summary["skipped"] == {SKIP_LOOP: 2}
    assert converted_cases(tmp_path / "out") == {"ct_p01"}


def test_glob_matches_what_glob_matches_without_loops(tmp_path, monkeypatch):
    """Without loops the walk gives glob's own matches: hidden folders left out by ``**``,
    character classes, ``?``, two ``**``, a leading ``**``, an absolute pattern."""
    for rel in ("a/x_ct.nii.gz", "a/b/y_ct.nii.gz", "a/b/c/z_ct.nii.gz", "a/.hid/h_ct.nii.gz", "q_ct.nii.gz",
                "a/b/c/k1.nii", "a/k2.nii", "a/b/.k3.nii"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "a" / "b" / "link").symlink_to(tmp_path / "a" / "b" / "c")  # not a loop: followed as glob does
    monkeypatch.chdir(tmp_path)
    patterns = ["**/*_ct.nii.gz", "a/**/*_ct.nii.gz", "a/**/[xz]_ct.nii.gz", "a/**/?_ct.nii.gz", "a/**/b/**/*.nii",
                "**", "a/**", f"{tmp_path}/**/*.nii", "a/*/*_ct.nii.gz", "nothing/**/*.nii"]
    for pattern in patterns:
        skipped: Dict[str, list] = {}
        assert datasets._glob(pattern, skipped) == sorted(set(glob.glob(pattern, recursive=True)) - {"a/"}), pattern
        assert skipped == {}


def test_cases_with_the_same_real_path_convert_once(tmp_path, capsys):
    """A symbolic link to another case's image (nnU-Net and 2D folders): the first case in
    order is kept, the other's files are counted as skipped."""
    src = nnunet(tmp_path / "Dup", ["a", "c"])
    (src / "imagesTr" / "b_0000.nii.gz").symlink_to("a_0000.nii.gz")
    save_nifti(src / "labelsTr" / "b.nii.gz", label_volume())
    two_d = folder_2d(tmp_path / "Dup2D", ["p"])
    (two_d / "images" / "q.png").symlink_to(two_d / "images" / "p.png")
    (two_d / "masks" / "q.png").write_bytes((two_d / "masks" / "p.png").read_bytes())
    nn = find_dataset(src)
    assert [c.case for c in nn.cases] == ["a", "c"]
    assert nn.skipped == {SKIP_DUPLICATE: [f"{src}/imagesTr/b_0000.nii.gz", f"{src}/labelsTr/b.nii.gz"]}
    flat = find_dataset(two_d, modality=["x_ray"])
    assert [c.case for c in flat.cases] == ["p"]
    assert flat.skipped == {SKIP_DUPLICATE: [f"{two_d}/images/q.png", f"{two_d}/masks/q.png"]}
    out = tmp_path / "out"
    with unchanged(src, two_d):
        code, _, err = convert(capsys, src, two_d, out, "--modality", "CT")
    assert code == 0, err
    summary = load(out, "summary.json")
    assert summary["cases"] == 3 and summary["skipped"] == {SKIP_DUPLICATE: 4}
    assert converted_cases(out) == {"a", "c", "p"}


# ---- item 11: 2D formats, frames, one name for two files, skipped files --------------------------


def test_2d_extensions_include_gif_and_webp(tmp_path, capsys):
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
    rng = np.random.default_rng(3)
    src = tmp_path / "Formats"
    for sub in ("images", "masks"):
        (src / sub).mkdir(parents=True)
    for ext in IMAGE_SUFFIXES:
        stem = ext[1:]
        Image.fromarray(colour_2d(rng)).save(src / "images" / f"{stem}{ext}")
        Image.fromarray(label_2d()).save(src / "masks" / f"{stem}.png")
    out = tmp_path / "out"
    with unchanged(src):
        code, _, err = convert(capsys, src, out, "--modality", "dermoscopy_00")
    assert code == 0, err
    assert converted_cases(out) == {ext[1:] for ext in IMAGE_SUFFIXES}


def _frames(values, size=(32, 32)):
    return [Image.fromarray(np.full(size, v, np.uint8)) for v in values]


def test_files_of_several_frames_convert_their_first_with_a_warning(tmp_path, capsys):
    """Multi-page TIFF, animated GIF, APNG and animated WebP images (and a multi-page TIFF
    mask) give exactly what a single-frame file of their first frame gives, with a warning."""
    rng = np.random.default_rng(4)
    src, single = tmp_path / "Frames" / "Anim", tmp_path / "Single" / "Anim"
    for root in (src, single):
        for sub in ("images", "masks"):
            (root / sub).mkdir(parents=True)
    first = {stem: rng.integers(0, 256, (32, 32), dtype=np.uint8) for stem in ("g", "p", "t", "w")}
    for stem, ext in (("g", ".gif"), ("p", ".png"), ("t", ".tif"), ("w", ".webp")):
        frames = [Image.fromarray(first[stem]), *_frames((7, 200))]
        if ext == ".webp":
            frames = [f.convert("RGB") for f in frames]
        frames[0].save(src / "images" / f"{stem}{ext}", save_all=True, append_images=frames[1:],
                       **({"lossless": True} if ext == ".webp" else {}))
        with Image.open(src / "images" / f"{stem}{ext}") as im:  # the first frame as Pillow gives it
            im.convert("RGB" if im.mode in ("P", "RGBA") else im.mode).save(single / "images" / f"{stem}.png")
        Image.fromarray(label_2d()).save(src / "masks" / f"{stem}.png")
    (src / "masks" / "t.png").unlink()
    label_frames = [Image.fromarray(label_2d()), *_frames((3, 4))]
    label_frames[0].save(src / "masks" / "t.tif", save_all=True, append_images=label_frames[1:])
    for stem in first:
        Image.fromarray(label_2d()).save(single / "masks" / f"{stem}.png")
    ds = find_dataset(src, modality=["endoscopy_00"])
    expected = [f"{src}/images/g.gif: 3 frames, the first is converted",
                f"{src}/images/p.png: 3 frames, the first is converted",
                f"{src}/images/t.tif: 3 frames, the first is converted",
                f"{src}/masks/t.tif: 3 frames, the first is converted",
                f"{src}/images/w.webp: 3 frames, the first is converted"]
    assert ds.warnings == expected and ds.skipped == {} and ds.failed == {}
    out, out_single = tmp_path / "out", tmp_path / "out_single"
    with unchanged(src):
        code, stdout, err = convert(capsys, src, out, "--modality", "endoscopy_00")
    assert code == 0, err
    assert [w for w in load(out, "summary.json")["warnings"] if "frames" in w] == expected
    assert all(f"WARNING {w}" in stdout for w in expected), stdout
    assert convert(capsys, single, out_single, "--modality", "endoscopy_00")[0] == 0
    for sub in ("images", "masks"):
        got = {p.name: p.read_bytes() for p in (out / sub).iterdir()}
        assert got == {p.name: p.read_bytes() for p in (out_single / sub).iterdir()} and got, sub


def test_two_files_with_one_name_fail_their_case(tmp_path, capsys):
    """``images/p.png`` and ``images/p.jpg`` (and ``masks/q.png`` with ``masks/q.tif``):
    either could be meant, so both cases fail naming the files; the other case converts."""
    src = folder_2d(tmp_path / "D", ["ok", "p", "q"])
    Image.fromarray(colour_2d(np.random.default_rng(5))).save(src / "images" / "p.jpg")
    Image.fromarray(label_2d()).save(src / "masks" / "q.tif")
    expected = {
        "D--p": f"{src}/images/p.jpg and {src}/images/p.png: 2 image files for case 'p' (same name, other "
                f"extension): keep one",
        "D--q": f"{src}/masks/q.png and {src}/masks/q.tif: 2 mask files for case 'q' (same name, other "
                f"extension): keep one",
    }
    ds = find_dataset(src, modality=["dermoscopy_00"])
    assert ds.failed == expected and [c.case for c in ds.cases] == ["ok"]
    out = tmp_path / "out"
    with unchanged(src):
        code, stdout, err = convert(capsys, src, out, "--modality", "dermoscopy_00")
    assert code == 1, err
    assert failures(out) == expected
    assert converted_cases(out) == {"ok"}
    with unchanged(src):
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--modality", "dermoscopy_00", "--dry-run")
    assert code == 1 and all(f"  ERROR {e}\n" in stdout for e in expected.values()), stdout


def test_same_name_in_an_nnunet_folder_fails_the_case(tmp_path, capsys):
    src = nnunet(tmp_path / "NN", ["a", "b"])
    save_nifti(src / "imagesTr" / "b_0000.nii", image_volume(np.random.default_rng(6)))
    ds = find_dataset(src)
    assert [c.case for c in ds.cases] == ["a"]
    assert ds.failed == {"NN--b": f"{src}/imagesTr/b_0000.nii and {src}/imagesTr/b_0000.nii.gz: 2 image files "
                                  f"for case 'b' (same name, other extension): keep one"}


def test_every_file_left_out_is_counted_by_reason(tmp_path, capsys):
    src = folder_2d(tmp_path / "D", ["a", "b"])
    (src / "images" / "notes.txt").write_text("x")
    (src / "images" / "scan.nii.gz").write_bytes(b"x")
    (src / "images" / ".DS_Store").write_bytes(b"x")
    (src / "masks" / "old").mkdir()
    (src / "labels").mkdir()  # beside masks/: not read
    Image.fromarray(label_2d()).save(src / "masks" / "orphan.png")
    Image.fromarray(colour_2d(np.random.default_rng(7))).save(src / "images" / "lonely.png")
    ds = find_dataset(src, modality=["dermoscopy_00"])
    assert [c.case for c in ds.cases] == ["a", "b"]
    assert ds.unlabelled == [f"{src}/images/lonely.png"]
    assert ds.skipped == {
        SKIP_FOLDER: [f"{src}/masks/old"],
        SKIP_HIDDEN: [f"{src}/images/.DS_Store"],
        SKIP_LABEL_ALONE: [f"{src}/masks/orphan.png"],
        SKIP_NOT_2D: [f"{src}/images/notes.txt", f"{src}/images/scan.nii.gz"],
        SKIP_UNUSED_LABELS: [f"{src}/labels"],
    }
    out = tmp_path / "out"
    with unchanged(src):
        code, _, err = convert(capsys, src, out, "--modality", "dermoscopy_00")
    assert code == 0, err
    summary = load(out, "summary.json")
    assert summary["skipped"] == {SKIP_FOLDER: 1, SKIP_HIDDEN: 1, SKIP_LABEL_ALONE: 1, SKIP_NOT_2D: 2,
                                  SKIP_UNUSED_LABELS: 1}
    assert summary["skipped_unlabelled"] == 1


# ---- item 13: a source that yields nothing --------------------------------------------------------


def sam_med2d_style(root: Path) -> Path:
    """images/ + masks/ with one mask file per instance, named ``<image>--<class>_<n>.png``."""
    rng = np.random.default_rng(8)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for stem in ("amos_0004_75", "s0114_111"):
        Image.fromarray(colour_2d(rng)).save(root / "images" / f"{stem}.png")
        for name in ("liver_000", "spleen_000"):
            Image.fromarray(((label_2d() == 1) * 255).astype(np.uint8)).save(root / "masks" / f"{stem}--{name}.png")
    return root


def test_lone_source_without_a_case_is_an_error_and_writes_nothing(tmp_path, capsys):
    src = sam_med2d_style(tmp_path / "SAMStyle")
    out = tmp_path / "out"
    with unchanged(src):
        code, stdout, err = convert(capsys, src, out, "--modality", "ct_00")
    assert (code, stdout) == (2, "")
    assert err == (f"samed2d convert: error: {src}: no case found: 2 image file(s) in images/, 4 in masks/, no "
                   f"image has a mask of the same name (masks/ looks like one file per instance: "
                   f"masks/amos_0004_75--liver_000.png for images/amos_0004_75.png); expected one label map per "
                   f"image with the image's name (images/NAME.png and masks/NAME.png, each pixel value a class)\n")
    assert_not_written(out)


def test_lone_nnunet_source_without_a_case_is_an_error(tmp_path, capsys):
    src = nnunet(tmp_path / "Empty", ["a"])
    (src / "labelsTr" / "a.nii.gz").rename(src / "labelsTr" / "other.nii.gz")
    out = tmp_path / "out"
    with unchanged(src):
        code, _, err = convert(capsys, src, out)
    assert err == (f"samed2d convert: error: {src}: no case found: 1 image file(s) in imagesTr/, 1 in labelsTr/, no "
                   f"image has a label of its case name; expected imagesTr/CASE_0000.nii.gz (one file per channel, "
                   f"or CASE.nii.gz) with labelsTr/CASE.nii.gz\n")
    assert code == 2
    assert_not_written(out)


def test_empty_source_among_several_is_recorded_and_the_others_convert(tmp_path, capsys):
    empty = sam_med2d_style(tmp_path / "SAMStyle")
    good = folder_2d(tmp_path / "Good", ["g1", "g2"])
    out = tmp_path / "out"
    with unchanged(empty, good):
        code, _, err = convert(capsys, empty, good, out, "--modality", "ct_00")
    assert code == 1, err
    (line,) = [l for l in err.splitlines() if str(empty) in l]
    assert line.startswith(f"samed2d convert: error: {empty}: no case found: 2 image file(s) in images/")
    assert failures(out) == {str(empty): line[len("samed2d convert: error: "):]}
    assert converted_cases(out) == {"g1", "g2"}


# ---- item 17: a malformed dataset.json is one line -------------------------------------------------


LATIN1 = json.dumps({**META, "labels": {"background": 0, "lésion": 1}}, ensure_ascii=False).encode("latin-1")


def _nested(depth: int) -> bytes:
    return ('{"channel_names": {"0": "CT"}, "labels": ' + "[" * depth + "]" * depth + "}").encode()


BAD_DATASET_JSON = {
    "channel_key_not_a_number": (json.dumps({**META, "channel_names": {"zero": "CT"}}).encode(),
                                 "channel_names key 'zero' is not a channel number (expected {\"0\": \"CT\", "
                                 "\"1\": ...})"),
    "channel_name_not_a_string": (json.dumps({**META, "channel_names": {"0": 5}}).encode(),
                                  "channel_names entry '0' is 5, not a channel name (a string such as 'CT')"),
    "channel_numbers_with_a_gap": (json.dumps({**META, "channel_names": {"0": "CT", "2": "PET"}}).encode(),
                                   "channel_names numbers must be 0 to 1, got 0, 2"),
    "utf16": (json.dumps(META).encode("utf-16"), "cannot read (UTF-16 text; a JSON file must be UTF-8)"),
    "latin1": (LATIN1, f"cannot read (not UTF-8: byte 0xe9 at offset {LATIN1.index(0xE9)})"),
    "deeply_nested": (_nested(100_000), "cannot read (JSON nested too deeply)"),
    "label_value_not_an_integer": (json.dumps({**META, "labels": {"background": 0, "liver": 1.5}}).encode(),
                                   "cannot read label entry 'liver': 1.5"),
    "label_value_with_two_names": (json.dumps({**META, "labels": {"liver": 1, "spleen": 1}}).encode(),
                                   "label value 1 has two names: 'liver' and 'spleen'"),
    "name_not_a_string": (json.dumps({**META, "name": ["x"]}).encode(), "name must be a string, got ['x']"),
}


@pytest.mark.parametrize("kind", list(BAD_DATASET_JSON))
def test_malformed_dataset_json_alone_is_one_line(tmp_path, capsys, kind):
    content, cause = BAD_DATASET_JSON[kind]
    src = nnunet(tmp_path / "Broken", ["x1"])
    (src / "dataset.json").write_bytes(content)
    out = tmp_path / "out"
    with unchanged(src):
        code, stdout, err = convert(capsys, src, out)
    assert (code, stdout, err) == (2, "", f"samed2d convert: error: {src}/dataset.json: {cause}\n")
    assert_not_written(out)


@pytest.mark.parametrize("kind", list(BAD_DATASET_JSON))
def test_malformed_dataset_json_among_several_and_the_good_ones_convert(tmp_path, capsys, kind):
    content, cause = BAD_DATASET_JSON[kind]
    broken = nnunet(tmp_path / "Broken", ["x1"])
    (broken / "dataset.json").write_bytes(content)
    good = nnunet(tmp_path / "Good", ["g1", "g2"])
    out = tmp_path / "out"
    with unchanged(broken, good):
        code, _, err = convert(capsys, broken, good, out)
    assert code == 1, err
    assert err.count("\n") == 1 and f"samed2d convert: error: {broken}/dataset.json: {cause}\n" in err
    assert failures(out) == {str(broken): f"{broken}/dataset.json: {cause}"}
    assert converted_cases(out) == {"g1", "g2"}


# ---- item 18: names are printed escaped -----------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    ("liver", "liver"),
    ("lésion 中文 Ωmega 🙂 a\\b", "lésion 中文 Ωmega 🙂 a\\b"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("\x1b]0;owned\x07title", "\\x1b]0;owned\\x07title"),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "\\x1b]8;;http://x\\x1b\\link\\x1b]8;;\\x1b\\"),
    ("\x9b31m C1 CSI", "\\x9b31m C1 CSI"),
    ("tab\there\nnewline\r\x00\x7f", "tab\\x09here\\x0anewline\\x0d\\x00\\x7f"),
    ("abc\u202edcba\u2066x\u200by", "abc\\u202edcba\\u2066x\\u200by"),
    ("nbsp\u00a0sep\u2028end", "nbsp\\xa0sep\\u2028end"),
    ("bad\udcffbyte", "bad\\udcffbyte"),
    ("private\U000f0000", "private\\U000f0000"),
])
def test_printable_escapes_what_a_terminal_would_act_on(raw, shown):
    assert printable(raw) == shown
    assert printable(shown) == shown


def test_dry_run_prints_names_escaped(tmp_path, capsys):
    hostile = {"background": 0, "\x1b]0;owned\x07evil": 1, "\x1b[2J\u202eliver": 2}
    src = nnunet(tmp_path / "Esc\x1b[31m", ["p\u202efdp.exe"], {**META, "labels": hostile, "name": "ds\x1b[1m"})
    with unchanged(src):
        code, stdout, err = convert(capsys, src, tmp_path / "out", "--dry-run")
    assert code == 0, err
    assert not any(ch in stdout for ch in "\x1b\x07\u202e")
    assert stdout.splitlines()[0] == f"ds\\x1b[1m  [msd/nnunet]  {tmp_path}/Esc\\x1b[31m"
    assert "  classes: 0=background, 1=\\x1b]0;owned\\x07evil, 2=\\x1b[2J\\u202eliver\n" in stdout
    assert "  p\\u202efdp.exe: ct_00  grid (12, 12, 12)" in stdout


# ---- item 21: --modality with no such tag ---------------------------------------------------------


MODALITY_HELP = ("give release tags (ct_00, dermoscopy_00, endoscopy_00, fundus_photography, mr_00, mr_adc, mr_dwi, "
                 "mr_flair, mr_t1, mr_t1ce, mr_t2, pet_00, ultrasound_00, x_ray) or channel names in any case (adc, "
                 "ct, dwi, flair, mr, mri, pet, t1, t1c, t1ce, t1gd, t1w, t2, t2w), one per channel, comma-separated")


@pytest.mark.parametrize("layout", ["2d", "nnunet", "two_srcs"])
def test_unknown_modality_names_the_option_and_the_valid_tags(tmp_path, capsys, layout):
    srcs = {"2d": [folder_2d(tmp_path / "D", ["p"])], "nnunet": [nnunet(tmp_path / "NN", ["a"])],
            "two_srcs": [folder_2d(tmp_path / "D", ["p"]), folder_2d(tmp_path / "E", ["q"])]}[layout]
    out = tmp_path / "out"
    with unchanged(*srcs):
        code, stdout, err = convert(capsys, *srcs, out, "--modality", "banana")
    assert (code, stdout) == (2, "")
    assert err == f"samed2d convert: error: --modality 'banana' is not a modality: {MODALITY_HELP}\n"
    assert_not_written(out)


# ---- item 22: --dry-run checks what headers and file sizes tell -------------------------------------


def _checks_source(root: Path) -> Path:
    """Cases the run refuses for what their headers say, and a good one."""
    rng = np.random.default_rng(9)
    src = nnunet(root, ["a_good", "b_affine", "c_grid", "d_label_4d", "e_label_5d"], rng=rng)
    moved = np.eye(4)
    moved[0, 3] = 0.01
    save_nifti(src / "labelsTr" / "b_affine.nii.gz", label_volume(), moved)
    save_nifti(src / "labelsTr" / "c_grid.nii.gz", label_volume((12, 12, 11)))
    save_nifti(src / "labelsTr" / "d_label_4d.nii.gz", np.stack([label_volume()] * 2, axis=-1))
    save_nifti(src / "labelsTr" / "e_label_5d.nii.gz", label_volume()[..., None, None].repeat(2, axis=4))
    return src


def _dry_run_errors(stdout: str) -> Dict[str, str]:
    return {line.split(": ERROR ")[0].strip(): line.split(": ERROR ", 1)[1]
            for line in stdout.splitlines() if ": ERROR " in line}


def test_dry_run_gives_the_run_s_message_for_each_refused_case(tmp_path, capsys, monkeypatch):
    src = _checks_source(tmp_path / "Checks")
    with unchanged(src):
        code, _, err = convert(capsys, src, tmp_path / "out")
        assert code == 1, err
        ran = failures(tmp_path / "out")
        forbid_decoding(monkeypatch)
        code, stdout, err = convert(capsys, src, tmp_path / "dry", "--dry-run")
    assert code == 1, err
    dry = _dry_run_errors(stdout)
    assert set(ran) == {f"Checks--{case}" for case in dry} == {"Checks--b_affine", "Checks--c_grid",
                                                                "Checks--d_label_4d", "Checks--e_label_5d"}
    assert {f"Checks--{case}": error for case, error in dry.items()} == ran
    assert ran["Checks--b_affine"] == (f"{src}/labelsTr/b_affine.nii.gz: label affine differs from the image's by "
                                       f"0.01 ({src}/imagesTr/b_affine_0000.nii.gz)")
    assert_not_written(tmp_path / "dry")


def test_dry_run_checks_channels_against_modality_tags(tmp_path, capsys, monkeypatch):
    src = nnunet(tmp_path / "Two", ["one_channel"], {**META, "channel_names": {"0": "T1", "1": "T2"}})
    rng = np.random.default_rng(10)
    for channel in range(2):
        save_nifti(src / "imagesTr" / f"two_{channel:04d}.nii.gz", image_volume(rng))
    save_nifti(src / "labelsTr" / "two.nii.gz", label_volume())
    with unchanged(src):
        assert convert(capsys, src, tmp_path / "out")[0] == 1
        ran = failures(tmp_path / "out")
        forbid_decoding(monkeypatch)
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--dry-run")
    assert code == 1
    message = f"{src}/imagesTr/one_channel_0000.nii.gz: 1 channel(s) but 2 modality tag(s) given"
    assert ran == {"Two--one_channel": message}
    assert _dry_run_errors(stdout) == {"one_channel": message}
    assert "  two: mr_t1 mr_t2  grid (12, 12, 12), 2 channel(s)" in stdout


def test_dry_run_uses_the_run_s_max_voxels(tmp_path, capsys, monkeypatch):
    src = nnunet(tmp_path / "Big", ["a", "b"])
    with unchanged(src):
        assert convert(capsys, src, tmp_path / "out", "--max-voxels", "1000")[0] == 1
        ran = failures(tmp_path / "out")
        forbid_decoding(monkeypatch)
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--dry-run", "--max-voxels", "1000")
        assert convert(capsys, src, tmp_path / "dry", "--dry-run", "--max-voxels", "1728")[0] == 0
    assert code == 1
    assert ran["Big--a"] == (f"{src}/imagesTr/a_0000.nii.gz: header claims a 12x12x12 grid (1728 voxels), more "
                             f"than --max-voxels 1000")
    assert {f"Big--{case}": error for case, error in _dry_run_errors(stdout).items()} == ran


def test_dry_run_finds_a_truncated_nii_from_its_size(tmp_path, capsys, monkeypatch):
    """An uncompressed .nii shorter than its header's offset plus voxel bytes (a .nii.gz
    needs decompressing to know: the run finds it)."""
    src = nnunet(tmp_path / "Cut", ["a", "b"])
    image = src / "imagesTr" / "b_0000.nii"
    save_nifti(image, image_volume(np.random.default_rng(11)))
    (src / "imagesTr" / "b_0000.nii.gz").unlink()
    image.write_bytes(image.read_bytes()[:-100])  # 352 header bytes + 12^3 int16 voxels, less 100 bytes
    message = f"{image}: truncated: the file ends after 3708 of 3808 bytes (vox_offset plus voxels)"
    with unchanged(src):
        assert convert(capsys, src, tmp_path / "out")[0] == 1
        assert failures(tmp_path / "out") == {"Cut--b": message}
        forbid_decoding(monkeypatch)
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--dry-run")
    assert code == 1
    assert _dry_run_errors(stdout) == {"b": message}


@pytest.mark.parametrize("which", ["image", "label"])
def test_dry_run_refuses_complex_voxels_as_the_run(tmp_path, capsys, monkeypatch, which):
    src = nnunet(tmp_path / "Cx", ["a", "b"])
    path = src / ("imagesTr/b_0000.nii.gz" if which == "image" else "labelsTr/b.nii.gz")
    save_nifti(path, (image_volume(np.random.default_rng(12)) if which == "image" else label_volume())
               .astype(np.complex64))
    with unchanged(src):
        assert convert(capsys, src, tmp_path / "out")[0] == 1
        ran = failures(tmp_path / "out")
        forbid_decoding(monkeypatch)
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--dry-run")
    assert code == 1
    assert ran == {"Cx--b": f"{path}: voxel type complex64 is not supported (complex values; store their "
                            f"magnitude or real part as a real-valued image)"}
    assert {f"Cx--{case}": error for case, error in _dry_run_errors(stdout).items()} == ran


def test_dry_run_checks_2d_sizes_as_the_run(tmp_path, capsys, monkeypatch):
    src = folder_2d(tmp_path / "Sizes", ["a", "b"])
    Image.fromarray(label_2d((31, 32))).save(src / "masks" / "b.png")
    with unchanged(src):
        assert convert(capsys, src, tmp_path / "out", "--modality", "x_ray")[0] == 1
        ran = failures(tmp_path / "out")
        forbid_decoding(monkeypatch)
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--modality", "x_ray", "--dry-run")
    assert code == 1
    assert ran == {"Sizes--b": f"{src}/masks/b.png: label size (31, 32) differs from image size (32, 32) "
                               f"({src}/images/b.png)"}
    assert {f"Sizes--{case}": error for case, error in _dry_run_errors(stdout).items()} == ran
    assert "  a: x_ray  2D 32x32 RGB: 1 slice" in stdout


@pytest.mark.parametrize("layout", ["2d", "nnunet"])
def test_a_fifo_does_not_hang_the_dry_run_nor_the_planner(tmp_path, capsys, layout):
    if layout == "2d":
        src = folder_2d(tmp_path / "Fifo", ["a"])
        fifo = src / "images" / "f.png"
        Image.fromarray(label_2d()).save(src / "masks" / "f.png")
        args = ("--modality", "x_ray")
    else:
        src = nnunet(tmp_path / "Fifo", ["a"])
        fifo = src / "imagesTr" / "f_0000.nii.gz"
        save_nifti(src / "labelsTr" / "f.nii.gz", label_volume())
        args = ()
    os.mkfifo(fifo)
    message = f"{fifo}: not a regular file (a FIFO, socket or device)"
    with unchanged(src):
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", *args, "--dry-run")
        assert code == 1 and _dry_run_errors(stdout) == {"f": message}
        spec = next(c for c in find_dataset(src, modality=list(args[1:]) or None).cases if c.case == "f")
        with pytest.raises(InputError) as caught:
            headers.decoded_bytes(spec)
        assert str(caught.value) == message
        code, _, err = convert(capsys, src, tmp_path / "out", *args)
    assert code == 1, err
    assert failures(tmp_path / "out") == {"Fifo--f": message}


def test_dry_run_wraps_a_long_class_list(tmp_path, capsys):
    names = {f"structure_number_{v:03d}": v for v in range(1, 301)}
    src = nnunet(tmp_path / "Many", ["a"], {**META, "labels": {"background": 0, **names}})
    with unchanged(src):
        code, stdout, _ = convert(capsys, src, tmp_path / "dry", "--dry-run")
    assert code == 0
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  classes: "))
    block = [lines[start]] + [line for line in lines[start + 1:] if line.startswith("    ")]
    assert len(block) > 50 and max(len(line) for line in block) <= 100
    listed = " ".join(line.strip() for line in block)[len("classes: "):]
    assert listed == ", ".join(["0=background"] + [f"{v}={n}" for n, v in names.items()])


# ---- item 27: the demo phantom shows all three axes ---------------------------------------------


def test_demo_phantom_passes_the_aspect_filter_on_every_axis(tmp_path, capsys):
    assert kept_axes(DEMO_CT_SHAPE) == [0, 1, 2]
    written = write_demo_dataset(tmp_path / "raw")
    for image in written["PhantomCT"]["images"]:
        assert nib.load(image).shape == DEMO_CT_SHAPE
    code, stdout, _ = convert(capsys, written["PhantomCT"]["root"], tmp_path / "dry", "--dry-run")
    assert code == 0
    nx, ny, nz = DEMO_CT_SHAPE
    assert stdout.count(f"slices (x={nx} y={ny} z={nz})") == 2
