"""Reliability and safety (issue #5): bad input, hostile files and full disks lose nothing.

Every input the issue lists as one that must fail is tried twice: with ``convert_case``
(the exception type, a one-line message naming the file and the cause, nothing of the case
left in OUT) and inside a ``samed2d convert`` run between two good cases (exit status 1, one
printed line, the failure in failures.json, the good cases converted). Every input the issue
lists as odd but valid is converted and compared with the plain reference of SPEC.md
(``tests/reference_pipeline.py``). Every test also checks that nothing was written outside
OUT: a listing of the test's folder (inputs and working directory included, OUT excluded) is
taken before and after the run and must be equal.

The CLI runs here in this process with ``-j 1``; worker deaths and kill-and-resume trials
live in ``test_executors.py`` and ``test_resume.py``. See docs/reliability.md.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Tuple

import nibabel as nib
import numpy as np
import pytest

from conftest import REQUIRE_SHARED, SHARED_DATA
from nibabel.testing import data_path as NIBABEL_DATA
from PIL import Image

from helpers import assert_output_equals_reference, blob_labels, read_png, run_cli, save_nifti
from reference_pipeline import convert_case_ref
from samed2d_fast import InputError, convert_case, output, pipeline, runner
from samed2d_fast.inputs import CaseSpec
from samed2d_fast.executors import plan_by_memory
from samed2d_fast.headers import PEAK_FACTOR, decoded_bytes
from samed2d_fast.instances import slice_instances_raw


REAL_CT = SHARED_DATA / "totalsegmentator_ct"  # builders below fall back to noise without it (not in CI)
SHAPE = (12, 12, 12)
LABELS = {"background": 0, "organ": 1, "tumour": 2, "vessel": 3}
META = {"channel_names": {"0": "CT"}, "labels": LABELS}
NUMPY_REPR = re.compile(r"\bnp\.\w+\(")  # np.float64(0.5): a numpy repr where the user wants 0.5


# ---- the sandbox: inputs, OUT, a working directory, and what lies outside OUT -------------------


class Sandbox:
    """``tmp_path/in`` (inputs), ``tmp_path/out`` (OUT) and ``tmp_path/cwd`` (the working
    directory during the test). ``listing()`` is everything under tmp_path except OUT."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.root = tmp_path
        self.src = tmp_path / "in"
        self.out = tmp_path / "out"
        self.src.mkdir()
        (tmp_path / "cwd").mkdir()
        monkeypatch.chdir(tmp_path / "cwd")

    def listing(self) -> Dict[str, tuple]:
        found = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if here / d != self.out]
            for name in dirnames + filenames:
                path = here / name
                if path == self.out:
                    continue
                st = path.lstat()
                size = None if stat.S_ISDIR(st.st_mode) else st.st_size
                found[str(path.relative_to(self.root))] = (stat.S_IFMT(st.st_mode), size, st.st_mtime_ns)
        return found

    def assert_nothing_outside(self, before: Dict[str, tuple]) -> None:
        after = self.listing()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert changed == [], f"written outside OUT: {changed[:10]}"


@pytest.fixture
def box(tmp_path, monkeypatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


def tmp_files(out: Path) -> list:
    """Temporary files of unfinished writes, anywhere under OUT."""
    return sorted(str(p) for p in Path(out).rglob("*") if ".tmp" in p.name) if Path(out).exists() else []


def case_files(out: Path, case: str) -> list:
    """Every PNG of ``case`` and its record, anywhere under OUT."""
    if not Path(out).exists():
        return []
    return sorted(str(p) for p in Path(out).rglob("*")
                  if (p.suffix == ".png" and f"--{case}--" in p.name)
                  or (p.parent.name == "records" and p.stem.endswith(f"--{case}")))


def pngs(out: Path) -> list:
    return sorted(str(p) for p in Path(out).rglob("*.png")) if Path(out).exists() else []


def assert_all_under(out: Path) -> None:
    """Every path written resolves inside OUT."""
    root = Path(out).resolve()
    for path in Path(out).rglob("*"):
        resolved = path.resolve()
        assert resolved == root or root in resolved.parents, f"{path} leaves OUT"


def assert_one_line(message: str, culprit, causes) -> None:
    """One line, no traceback, the file's path and every cause pattern in it."""
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert "Traceback" not in message, message
    assert str(culprit) in message, f"the message does not name {culprit}: {message!r}"
    for cause in [causes] if isinstance(causes, str) else causes:
        assert re.search(cause, message, re.IGNORECASE), f"cause /{cause}/ not in {message!r}"
    assert not NUMPY_REPR.search(message), f"a numpy repr instead of the plain value: {message!r}"




def failures_of(out: Path) -> Dict[str, str]:
    path = Path(out) / "failures.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    entries = data if isinstance(data, list) else [{"case": k, "error": v} for k, v in data.items()]
    return {e["case"]: e["error"] for e in entries}


def converted_cases(out: Path) -> set:
    """Case fields of the images listed in SAMed2D_v1.json, each checked to exist on disk."""
    release = json.loads((Path(out) / "SAMed2D_v1.json").read_text(encoding="utf-8"))
    for image, masks in release.items():
        assert (Path(out) / image).is_file() and all((Path(out) / m).is_file() for m in masks), image
    return {image.rsplit("/", 1)[-1][: -len(".png")].split("--")[2] for image in release}


# ---- writing cases ------------------------------------------------------------------------------


def nifti_paths(src: Path, name: str, img_suffix=".nii.gz", lab_suffix=".nii.gz") -> Tuple[Path, Path]:
    """nnU-Net raw layout: imagesTr/{name}_0000.nii.gz and labelsTr/{name}.nii.gz."""
    for sub in ("imagesTr", "labelsTr"):
        (src / sub).mkdir(parents=True, exist_ok=True)
    return src / "imagesTr" / f"{name}_0000{img_suffix}", src / "labelsTr" / f"{name}{lab_suffix}"


def good_image(path: Path, rng, shape=SHAPE) -> Path:
    return save_nifti(path, rng.integers(-100, 900, shape).astype(np.int16))


def good_label(path: Path, rng, shape=SHAPE, affine=None) -> Path:
    return save_nifti(path, blob_labels(shape, 3, rng), affine)


def write_good_nifti(src: Path, name: str, rng) -> Tuple[Path, Path]:
    image, label = nifti_paths(src, name)
    return good_image(image, rng), good_label(label, rng)


def twod_paths(src: Path, name: str, img_ext=".png", lab_ext=".png") -> Tuple[Path, Path]:
    """2D folder layout: images/{name}.png and masks/{name}.png."""
    for sub in ("images", "masks"):
        (src / sub).mkdir(parents=True, exist_ok=True)
    return src / "images" / f"{name}{img_ext}", src / "masks" / f"{name}{lab_ext}"


def label_2d(size=(32, 32)) -> np.ndarray:
    lab = np.zeros(size, dtype=np.uint8)
    lab[4:16, 4:16] = 1
    lab[18:30, 10:28] = 2
    return lab


def write_good_2d(src: Path, name: str, rng, size=(32, 32)) -> Tuple[Path, Path]:
    image, label = twod_paths(src, name)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(image)
    Image.fromarray(label_2d(size)).save(label)
    return image, label


def save_nifti_typed(path: Path, data: np.ndarray, affine=None) -> Path:
    """int64 / uint64 data, which nibabel only writes when the dtype is given explicitly."""
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine, dtype=data.dtype), str(path))
    return path


def write_huge_header(path: Path, dims=(30000, 30000, 30000)) -> Path:
    """A tiny .nii whose header claims ``dims``: dim[] (int16) sits at bytes 40..55."""
    save_nifti(path, np.zeros((2, 2, 2), dtype=np.uint8))
    with open(path, "r+b") as f:
        f.seek(40)
        f.write(np.array([len(dims), *dims, *([1] * (7 - len(dims)))], dtype="<i2").tobytes())
    assert nib.load(str(path)).shape == tuple(dims)
    return path


# ---- inputs that must fail ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    layout: str                                  # "nifti" (nnU-Net folder) or "2d" (images/ + masks/)
    build: Callable[[Path, str, np.random.Generator], Tuple[Path, Path, Path]]  # -> image, label, culprit
    causes: Tuple[str, ...]                      # patterns the message must hold besides the file


def _truncated(which: str):
    def build(src, name, rng):
        image, label = nifti_paths(src, name)
        if REAL_CT.is_dir():  # real .nii.gz files, cut in half
            shutil.copyfile(REAL_CT / "imagesTr" / "example_0000.nii.gz", image)
            shutil.copyfile(REAL_CT / "labelsTr" / "example.nii.gz", label)
        elif REQUIRE_SHARED:
            pytest.fail(f"real test data not found at {REAL_CT}; SAMED2D_REQUIRE_SHARED=1 requires it", pytrace=False)
        else:
            save_nifti(image, rng.normal(size=(40, 40, 40)).astype(np.float32))
            save_nifti(label, blob_labels((40, 40, 40), 3, rng))
        culprit = image if which == "image" else label
        data = culprit.read_bytes()
        culprit.write_bytes(data[: len(data) // 2])
        return image, label, culprit
    return build


def _png_named_nii(src, name, rng):
    image, label = nifti_paths(src, name, img_suffix=".nii")
    Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(image, format="PNG")
    return image, good_label(label, rng), image


def _empty(which: str, suffix: str):
    def build(src, name, rng):
        image, label = nifti_paths(src, name, img_suffix=suffix if which == "image" else ".nii.gz",
                                   lab_suffix=suffix if which == "label" else ".nii.gz")
        culprit = image if which == "image" else label
        (good_label if which == "image" else good_image)(label if which == "image" else image, rng)
        culprit.write_bytes(b"")
        return image, label, culprit
    return build


def _huge_header(src, name, rng):
    image, label = nifti_paths(src, name, img_suffix=".nii")
    return write_huge_header(image), good_label(label, rng), image


def _label_of(data_fn, affine=None, typed=False):
    """A good image and a label made by ``data_fn(good label array)``."""
    def build(src, name, rng):
        image, label = nifti_paths(src, name)
        good_image(image, rng)
        data = data_fn(blob_labels(SHAPE, 3, rng))
        (save_nifti_typed if typed else save_nifti)(label, data, affine)
        return image, label, label
    return build


def _with_value(dtype, value):
    def fn(lab):
        out = lab.astype(dtype)
        out[6, 6, 6] = value
        return out
    return fn


def _shifted_affine(dx: float) -> np.ndarray:
    affine = np.eye(4)
    affine[0, 3] = dx
    return affine


def _overflowing_image(src, name, rng):
    image, label = nifti_paths(src, name)
    data = rng.normal(size=SHAPE)
    data[0, 0, 0], data[11, 11, 11] = -1e308, 1e308
    save_nifti(image, data.astype(np.float64))
    return image, good_label(label, rng), image


def _image_is_a_folder(src, name, rng):
    image, label = nifti_paths(src, name)
    image.mkdir()
    return image, good_label(label, rng), image


def _dangling_label(src, name, rng):
    image, label = nifti_paths(src, name)
    good_image(image, rng)
    label.symlink_to(src / "nowhere" / "gone.nii.gz")
    return image, label, label


def _rgb_label_not_grey(src, name, rng):
    image, label = twod_paths(src, name)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    lab = label_2d()
    Image.fromarray(np.stack([lab * 60, lab * 60, lab * 70], axis=-1).astype(np.uint8)).save(label)
    return image, label, label


def _mismatched_2d_sizes(src, name, rng):
    image, label = twod_paths(src, name)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    Image.fromarray(label_2d((31, 32))).save(label)
    return image, label, label


def _empty_2d_label(src, name, rng):
    image, label = twod_paths(src, name)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    label.write_bytes(b"")
    return image, label, label


def _truncated_2d_image(src, name, rng):
    image, label = twod_paths(src, name)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(image)
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    Image.fromarray(label_2d((64, 64))).save(label)
    return image, label, image


BAD: Dict[str, Bad] = {
    "truncated_image_nii_gz": Bad("nifti", _truncated("image"), (r"cannot read|truncated|ended",)),
    "truncated_label_nii_gz": Bad("nifti", _truncated("label"), (r"cannot read|truncated|ended",)),
    "png_named_nii": Bad("nifti", _png_named_nii, (r"not a (readable )?NIfTI",)),
    "empty_image_nii_gz": Bad("nifti", _empty("image", ".nii.gz"), (r"empty",)),
    "empty_label_nii": Bad("nifti", _empty("label", ".nii"), (r"empty",)),
    "huge_header": Bad("nifti", _huge_header, (r"30000x30000x30000", r"--max-voxels")),
    "grid_shape_differs": Bad("nifti", _label_of(lambda l: l[:, :, :11].copy()),
                              (r"grid|shape", r"\(12, 12, 11\)")),
    "grid_affine_differs": Bad("nifti", _label_of(lambda l: l, affine=_shifted_affine(0.01)), (r"affine",)),
    "label_4d": Bad("nifti", _label_of(lambda l: np.stack([l, l], axis=-1)), (r"3D", r"\(12, 12, 12, 2\)")),
    "label_5d": Bad("nifti", _label_of(lambda l: np.stack([l, l], axis=-1)[..., np.newaxis, :]),
                    (r"3D", r"\(12, 12, 12, 1, 2\)")),
    "label_float_0.5": Bad("nifti", _label_of(_with_value(np.float32, 0.5)), (r"(?<![\d.])0\.5\b", r"integer")),
    "label_nan": Bad("nifti", _label_of(_with_value(np.float32, np.nan)), (r"\bnan\b",)),
    "label_negative_int16": Bad("nifti", _label_of(_with_value(np.int16, -3)), (r"-3\b", r"negative|below")),
    "label_negative_float": Bad("nifti", _label_of(_with_value(np.float32, -2.0)), (r"-2\b", r"negative|below")),
    "label_int64_2^32": Bad("nifti", _label_of(_with_value(np.int64, 2**32), typed=True),
                            (r"4294967296", r"2\^32|2\*\*32|above")),
    "label_float64_2^32": Bad("nifti", _label_of(_with_value(np.float64, 2.0**32)),
                              (r"4294967296", r"2\^32|2\*\*32|above")),
    "image_hi_minus_lo_overflows": Bad("nifti", _overflowing_image, (r"overflow",)),
    "image_is_a_folder": Bad("nifti", _image_is_a_folder, (r"folder|directory",)),
    "label_dangling_symlink": Bad("nifti", _dangling_label, (r"not found|dangling|broken|no such",)),
    "rgb_label_not_grey": Bad("2d", _rgb_label_not_grey, (r"grey|gray", r"RGB|channel")),
    "mismatched_2d_sizes": Bad("2d", _mismatched_2d_sizes, (r"size", r"\(31, 32\)")),
    "empty_2d_label": Bad("2d", _empty_2d_label, (r"empty",)),
    "truncated_2d_image": Bad("2d", _truncated_2d_image, (r"truncated|not a readable image",)),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_fails_with_one_line_and_leaves_nothing(kind, box):
    """convert_case: InputError (a ValueError) naming the file and the cause; OUT holds no PNG
    and no temporary file; nothing outside OUT changed."""
    bad = BAD[kind]
    image, label, culprit = bad.build(box.src, "bad", np.random.default_rng(5))
    before = box.listing()
    with pytest.raises(InputError) as info:
        convert_case(image, label, box.out, dataset="ds", modality="ct_00", case="bad")
    assert isinstance(info.value, ValueError)
    assert_one_line(str(info.value), culprit, bad.causes)
    assert pngs(box.out) == [] and tmp_files(box.out) == []
    box.assert_nothing_outside(before)


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_case_in_a_run_fails_alone(kind, box):
    """``samed2d convert`` with the bad case between two good ones: exit 1, the failure in
    failures.json and printed once as one line naming the file and the cause, nothing of the
    case in OUT, no temporary file, both good cases converted, nothing outside OUT."""
    bad = BAD[kind]
    rng = np.random.default_rng(6)
    src = box.src / "DS"
    write_good = write_good_nifti if bad.layout == "nifti" else write_good_2d
    write_good(src, "a_good", rng)
    _, _, culprit = bad.build(src, "b_bad", rng)
    write_good(src, "c_good", rng)
    if bad.layout == "nifti":
        (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    extra = [] if bad.layout == "nifti" else ["--modality", "dermoscopy_00"]
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress", *extra)
    assert code == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    failures = failures_of(box.out)
    assert set(failures) == {"DS--b_bad"}, failures
    error = failures["DS--b_bad"]
    assert_one_line(error, culprit, bad.causes)
    printed = [line for line in stderr.splitlines() if str(culprit) in line]
    assert len(printed) == 1 and error in printed[0], stderr
    assert case_files(box.out, "b_bad") == [] and tmp_files(box.out) == []
    assert converted_cases(box.out) == {"a_good", "c_good"}
    box.assert_nothing_outside(before)


# ---- grids too large: --max-voxels, and memory planning ---------------------------------------------


def test_huge_header_is_refused_before_any_allocation(box):
    image = write_huge_header(box.src / "huge.nii")
    label = good_label(box.src / "lab.nii.gz", np.random.default_rng(1))
    before = box.listing()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError) as info:
            convert_case(image, label, box.out, dataset="ds", modality="ct_00")
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seconds < 2 and peak < 32 * 2**20, (seconds, peak)
    assert_one_line(str(info.value), image, (r"30000x30000x30000", r"27000000000000", r"--max-voxels 2147483648"))
    assert pngs(box.out) == [] and tmp_files(box.out) == []
    box.assert_nothing_outside(before)


def test_max_voxels_option(box):
    """A user limit: a 16^3 case is refused by --max-voxels 3000, a 12^3 one converts."""
    rng = np.random.default_rng(2)
    src = box.src / "DS"
    write_good_nifti(src, "a_small", rng)
    image, label = nifti_paths(src, "b_big")
    good_image(image, rng, (16, 16, 16))
    good_label(label, rng, (16, 16, 16))
    (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    with pytest.raises(InputError) as info:
        convert_case(image, label, box.root / "direct", dataset="DS", modality="ct_00", max_voxels=3000)
    assert_one_line(str(info.value), image, (r"16x16x16", r"4096 voxels", r"--max-voxels 3000"))
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress", "--max-voxels", 3000)
    assert code == 1, stdout + stderr
    errors = failures_of(box.out)
    assert set(errors) == {"DS--b_big"}
    assert_one_line(errors["DS--b_big"], image, (r"--max-voxels 3000",))
    assert case_files(box.out, "b_big") == [] and tmp_files(box.out) == []
    assert converted_cases(box.out) == {"a_small"}
    box.assert_nothing_outside(before)


def _spec(name: str, image: Path, label: Path) -> CaseSpec:
    return CaseSpec("DS", name, (str(image),), str(label), ("ct_00",))


def test_huge_header_is_too_big_for_memory(box):
    image = write_huge_header(box.src / "huge.nii")
    label = good_label(box.src / "lab.nii.gz", np.random.default_rng(3))
    spec = _spec("huge", image, label)
    start = time.perf_counter()
    plan = plan_by_memory([spec], 2, 2**30, max_voxels=10**15)  # a cap this header passes
    assert time.perf_counter() - start < 2
    assert plan.shared == [] and plan.alone == [] and set(plan.too_big) == {spec.key}
    assert_one_line(plan.too_big[spec.key], image, (r"GiB", r"memory"))
    # Under the default cap the case itself refuses the header, with the --max-voxels message.
    assert plan_by_memory([spec], 2, 2**30).shared == [spec]


def test_case_over_a_workers_share_waits_to_run_alone(box):
    """Need = PEAK_FACTOR x decoded bytes (from headers). Within a worker's share: shared;
    above it but within all memory: alone (after the others, one at a time); above all: too big."""
    rng = np.random.default_rng(4)
    small = _spec("small", *write_good_nifti(box.src, "small", rng))
    image, label = nifti_paths(box.src, "big")
    big = _spec("big", good_image(image, rng, (40, 40, 40)), good_label(label, rng, (40, 40, 40)))
    need_small, need_big = PEAK_FACTOR * decoded_bytes(small), PEAK_FACTOR * decoded_bytes(big)
    assert need_big == PEAK_FACTOR * 40**3 * (2 + 1)  # int16 image, uint8 labels, stored dtypes
    # the release preset reads images as scaled float64 values: 8 bytes a voxel, labels as stored
    assert PEAK_FACTOR * decoded_bytes(big, scaled=True) == PEAK_FACTOR * 40**3 * (8 + 1)
    available = 2 * need_big  # a worker's share (of 4) is half the big case's need
    assert need_small <= available // 4 < need_big
    plan = plan_by_memory([small, big], 4, available)
    assert plan.shared == [small] and plan.alone == [big] and plan.too_big == {}
    plan = plan_by_memory([small, big], 1, available)
    assert plan.shared == [small, big] and plan.alone == [] and plan.too_big == {}
    plan = plan_by_memory([small, big], 4, need_big - 1)
    assert plan.shared == [small] and plan.alone == [] and set(plan.too_big) == {big.key}
    assert_one_line(plan.too_big[big.key], image, (r"GiB", r"memory"))


def test_case_too_big_for_memory_fails_and_the_run_goes_on(box, monkeypatch):
    rng = np.random.default_rng(7)
    src = box.src / "DS"
    write_good_nifti(src, "a_small", rng)
    image, label = nifti_paths(src, "b_big")
    good_image(image, rng, (40, 40, 40))
    good_label(label, rng, (40, 40, 40))
    write_good_nifti(src, "c_small", rng)
    (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    monkeypatch.setattr(runner, "available_memory", lambda: 100_000)  # the small cases need ~16 kB
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress")
    assert code == 1, stdout + stderr
    errors = failures_of(box.out)
    assert set(errors) == {"DS--b_big"}
    assert_one_line(errors["DS--b_big"], image, (r"GiB", r"memory"))
    assert len([line for line in stderr.splitlines() if str(image) in line]) == 1, stderr
    assert case_files(box.out, "b_big") == [] and tmp_files(box.out) == []
    assert converted_cases(box.out) == {"a_small", "c_small"}
    box.assert_nothing_outside(before)


# ---- data sets, names and OUT ---------------------------------------------------------------------


BAD_META = {
    "invalid_json": ('{"name": "Broken", "labels": {', (r"cannot read|invalid|JSON|Expecting",)),
    "missing_labels": ({"channel_names": {"0": "CT"}}, (r"labels",)),
    "labels_not_an_object": ({"channel_names": {"0": "CT"}, "labels": [0, 1]}, (r"labels", r"object")),
    "zscore_channel": ({"channel_names": {"0": "zscore"}, "labels": LABELS}, (r"zscore", r"--modality")),
    "incomplete_no_channels": ({"labels": LABELS}, (r"channel", r"--modality")),
}


def _broken_dataset(src: Path, meta, rng) -> Path:
    write_good_nifti(src, "x1", rng)
    text = meta if isinstance(meta, str) else json.dumps(meta)
    (src / "dataset.json").write_text(text, encoding="utf-8")
    return src / "dataset.json"


@pytest.mark.parametrize("kind", list(BAD_META))
def test_malformed_dataset_json_alone_is_a_usage_error(kind, box):
    meta, causes = BAD_META[kind]
    dataset_json = _broken_dataset(box.src / "Broken", meta, np.random.default_rng(8))
    before = box.listing()
    code, stdout, stderr = run_cli("convert", box.src / "Broken", box.out, "-j", "1", "--no-progress")
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert_one_line(lines[0], dataset_json, causes)
    assert not box.out.exists() or not any(box.out.iterdir())
    box.assert_nothing_outside(before)


@pytest.mark.parametrize("kind", [*BAD_META, "missing_folder"])
def test_unreadable_source_among_several_is_recorded_and_the_others_run(kind, box):
    rng = np.random.default_rng(9)
    good = box.src / "Good"
    for name in ("g1", "g2"):
        write_good_nifti(good, name, rng)
    (good / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    if kind == "missing_folder":
        broken, culprit, causes = box.src / "Missing", box.src / "Missing", (r"not a folder|not found|no such",)
    else:
        meta, causes = BAD_META[kind]
        broken = box.src / "Broken"
        culprit = _broken_dataset(broken, meta, rng)
    before = box.listing()
    code, stdout, stderr = run_cli("convert", broken, good, box.out, "-j", "1", "--no-progress")
    assert code == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    errors = [e for e in failures_of(box.out).values()]
    assert len(errors) == 1, errors
    assert_one_line(errors[0], culprit, causes)
    assert len([line for line in stderr.splitlines() if str(culprit) in line]) == 1, stderr
    assert converted_cases(box.out) == {"g1", "g2"}
    assert tmp_files(box.out) == []
    box.assert_nothing_outside(before)


@pytest.mark.parametrize("names", [("p 1", "p_1"), ("caf\u00e9", "cafe\u0301")], ids=["space", "nfc_nfd"])
def test_cases_whose_cleaned_names_collide_both_fail(names, box):
    """Two cases of one data set whose cleaned names are equal (``p 1``/``p_1``; NFC ``café``
    and NFD ``café``, both ``caf_``): both fail with one error naming both sources."""
    rng = np.random.default_rng(10)
    src = box.src / "DS"
    images = [write_good_nifti(src, name, rng)[0] for name in names]
    write_good_nifti(src, "q", rng)
    (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    cleaned = "p_1" if names[0] == "p 1" else "caf_"
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress")
    assert code == 1, stdout + stderr
    errors = failures_of(box.out)
    assert set(errors) == {f"DS--{cleaned}"}, errors
    for image in images:
        assert_one_line(errors[f"DS--{cleaned}"], image, (r"collide", re.escape(cleaned)))
    assert any(errors[f"DS--{cleaned}"] in line for line in (stdout + stderr).splitlines())
    assert case_files(box.out, cleaned) == [] and tmp_files(box.out) == []
    assert converted_cases(box.out) == {"q"}
    box.assert_nothing_outside(before)


@pytest.mark.parametrize("where", ["path_under_a_file", "path_is_a_file"])
def test_out_that_cannot_be_written_is_a_usage_error(where, box):
    """Tests run as root, so no permission trick: OUT is a path under a regular file, or a file."""
    rng = np.random.default_rng(11)
    src = box.src / "DS"
    write_good_nifti(src, "a", rng)
    (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    blocker = box.root / "blocker.txt"
    blocker.write_text("not a folder\n")
    out = blocker / "out" if where == "path_under_a_file" else blocker
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, out, "-j", "1", "--no-progress")
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert_one_line(lines[0], out, (r"not a (folder|directory)|cannot create",))
    assert blocker.read_text() == "not a folder\n"
    box.assert_nothing_outside(before)


# ---- a disk that fills up during a case -------------------------------------------------------------


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("fail_at", [1, 9])
def test_disk_full_during_a_case_fails_it_cleanly_and_the_next_converts(fail_at, box, monkeypatch):
    """The fail_at-th file write of the run (case a's first, or one in the middle of it)
    raises ENOSPC; a fails with nothing left, b and c convert; --resume then gives exactly
    the bytes of a run that never failed."""
    rng = np.random.default_rng(12)
    src = box.src / "DS"
    images = {name: write_good_nifti(src, name, rng)[0] for name in ("a", "b", "c")}
    (src / "dataset.json").write_text(json.dumps(META), encoding="utf-8")
    real_write, calls = pipeline.write_atomic, []

    def write_atomic(path, data):
        calls.append(path)
        if len(calls) == fail_at:
            raise _enospc()
        real_write(path, data)

    monkeypatch.setattr(pipeline, "write_atomic", write_atomic)
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress")
    assert code == 1, stdout + stderr
    errors = failures_of(box.out)
    assert set(errors) == {"DS--a"}
    assert_one_line(errors["DS--a"], images["a"], (r"No space left|ENOSPC|Errno 28",))
    assert len([line for line in stderr.splitlines() if str(images["a"]) in line]) == 1, stderr
    assert case_files(box.out, "a") == [] and tmp_files(box.out) == []
    assert converted_cases(box.out) == {"b", "c"}
    box.assert_nothing_outside(before)

    monkeypatch.setattr(pipeline, "write_atomic", real_write)  # space freed: resume
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress", "--resume")
    assert code == 0, stdout + stderr
    clean = box.root / "clean" / "out"  # same folder name: the split files hold it
    assert run_cli("convert", src, clean, "-j", "1", "--no-progress")[0] == 0
    assert tree_bytes(box.out, skip_state=True) == tree_bytes(clean, skip_state=True)


class _DiskFillsUp:
    """``os`` for samed2d_fast.output whose write() fails with ENOSPC after ``room`` calls,
    having written half its bytes: the real write_atomic must remove its temporary file."""

    def __init__(self, room: int):
        self.room = room

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if self.room <= 0:
            os.write(fd, bytes(data[: max(1, len(data) // 2)]))
            raise _enospc()
        self.room -= 1
        return os.write(fd, data)


@pytest.mark.parametrize("room", [0, 5])
def test_disk_full_inside_a_write_leaves_no_half_file(room, box, monkeypatch):
    rng = np.random.default_rng(13)
    image, label = write_good_nifti(box.src, "a", rng)
    monkeypatch.setattr(output, "os", _DiskFillsUp(room))
    before = box.listing()
    with pytest.raises(OSError) as info:
        convert_case(image, label, box.out, dataset="ds", modality="ct_00")
    assert info.value.errno == errno.ENOSPC
    assert pngs(box.out) == [] and tmp_files(box.out) == []
    assert not any(p.is_file() for p in box.out.rglob("*"))
    box.assert_nothing_outside(before)


# ---- odd inputs that must succeed exactly as SPEC says ------------------------------------------------


def convert_and_compare(box: Sandbox, image, label, **kwargs):
    """convert_case against the SPEC reference; no temporary file; nothing outside OUT."""
    kwargs.setdefault("dataset", "ds")
    kwargs.setdefault("modality", "ct_00")
    before = box.listing()
    record = convert_case(image, label, box.out, **kwargs)
    ref = convert_case_ref(image, label, **kwargs)
    assert_output_equals_reference(box.out, record, ref)
    assert tmp_files(box.out) == []
    assert_all_under(box.out)
    box.assert_nothing_outside(before)
    return record


def tree_bytes(root: Path, skip_state: bool = False) -> Dict[str, bytes]:
    """Every file under ``root`` -> its bytes (without the run's own .samed2d state if asked)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*"))
            if p.is_file() and not (skip_state and ".samed2d" in p.relative_to(root).parts)}


def _cube_label(shape=(16, 16, 16), value=1, dtype=np.uint8) -> np.ndarray:
    lab = np.zeros(shape, dtype=dtype)
    lab[2:14, 2:14, 2:14] = value
    return lab


def test_nan_and_inf_in_the_image_are_0(box):
    rng = np.random.default_rng(14)
    vol = rng.normal(0, 100, (16, 16, 16)).astype(np.float32)
    spots = {(3, 4, 8): np.nan, (5, 6, 8): np.inf, (7, 9, 8): -np.inf}
    for (x, y, z), value in spots.items():
        vol[x, y, z] = value
    image = save_nifti(box.src / "naninf.nii.gz", vol)
    label = save_nifti(box.src / "lab.nii.gz", _cube_label())
    convert_and_compare(box, image, label)
    pixels = read_png(box.out / "images" / "ct_00--ds--naninf--z_0008.png")
    for x, y, _ in spots:  # z slice: S = V[:, :, 8], saved S.T[::-1, ::-1]
        assert pixels[15 - y, 15 - x] == 0
    finite = vol[np.isfinite(vol)]
    assert finite.min() < vol[8, 8, 8] < finite.max()  # lo/hi come from finite values only
    assert 0 < pixels[15 - 8, 15 - 8] < 255


@pytest.mark.parametrize("fill", ["int16_constant", "float32_constant", "float32_all_nan", "float32_all_inf"])
def test_constant_image_is_all_0(fill, box):
    data = {"int16_constant": np.full((16, 16, 16), 7, np.int16),
            "float32_constant": np.full((16, 16, 16), -3.5, np.float32),
            "float32_all_nan": np.full((16, 16, 16), np.nan, np.float32),
            "float32_all_inf": np.full((16, 16, 16), np.inf, np.float32)}[fill]
    image = save_nifti(box.src / "const.nii.gz", data)
    label = save_nifti(box.src / "lab.nii.gz", _cube_label())
    record = convert_and_compare(box, image, label)
    assert len(record.images) == 3 * 12
    for name in record.images:
        assert not read_png(box.out / name).any(), name


@pytest.mark.parametrize("keep_empty", [False, True])
def test_all_background_label(keep_empty, box):
    rng = np.random.default_rng(15)
    image = save_nifti(box.src / "img.nii.gz", rng.normal(size=(16, 16, 16)).astype(np.float32))
    label = save_nifti(box.src / "lab.nii.gz", np.zeros((16, 16, 16), np.uint8))
    record = convert_and_compare(box, image, label, keep_empty=keep_empty)
    if keep_empty:
        assert len(record.images) == 3 * 16 and not list((box.out / "masks").iterdir())
    else:
        assert record.images == {} and pngs(box.out) == []


@pytest.mark.parametrize("value,dtype,field", [(10000, np.uint16, "10000"), (12345, np.uint16, "12345"),
                                               (2**32 - 1, np.uint32, "4294967295")])
def test_label_ids_above_9999_get_wider_fields(value, dtype, field, box):
    rng = np.random.default_rng(16)
    image = save_nifti(box.src / "img.nii.gz", rng.integers(0, 500, (16, 16, 16)).astype(np.int16))
    label = save_nifti(box.src / "lab.nii.gz", _cube_label(value=value, dtype=dtype))
    record = convert_and_compare(box, image, label)
    masks = sorted(p.name for p in (box.out / "masks").iterdir())
    assert len(masks) == 3 * 12 and all(m.endswith(f"--{field}_000.png") for m in masks)
    assert record.classes == {f"label_{value}": field}


def test_float_labels_within_1e_3_of_integers(box):
    rng = np.random.default_rng(17)
    image = save_nifti(box.src / "img.nii.gz", rng.integers(0, 500, (16, 16, 16)).astype(np.int16))
    lab = blob_labels((16, 16, 16), 3, rng)
    noise = rng.uniform(-0.0009, 0.0009, lab.shape)
    noise[lab == 0] = -1e-7  # -1e-7 reads as 0
    exact = save_nifti(box.src / "exact.nii.gz", lab)
    near = save_nifti(box.src / "near.nii.gz", lab.astype(np.float64) + noise)
    convert_and_compare(box, image, near, case="c")
    convert_case(image, exact, box.root / "exact_out", dataset="ds", modality="ct_00", case="c")
    assert tree_bytes(box.out) == tree_bytes(box.root / "exact_out")


@pytest.mark.parametrize("form", ["xyz1_both", "xyz1_image_only", "xyz11_label"])
def test_trailing_axes_of_length_1_are_dropped(form, box):
    rng = np.random.default_rng(18)
    img, lab = rng.integers(0, 500, (16, 16, 16)).astype(np.int16), blob_labels((16, 16, 16), 3, rng)
    image3, label3 = save_nifti(box.src / "i3.nii.gz", img), save_nifti(box.src / "l3.nii.gz", lab)
    image = save_nifti(box.src / "i4.nii.gz", img[..., np.newaxis]) if form != "xyz11_label" else image3
    label = {"xyz1_both": lambda: save_nifti(box.src / "l4.nii.gz", lab[..., np.newaxis]),
             "xyz1_image_only": lambda: label3,
             "xyz11_label": lambda: save_nifti(box.src / "l5.nii.gz", lab[..., np.newaxis, np.newaxis])}[form]()
    convert_and_compare(box, image, label, case="c")
    convert_case(image3, label3, box.root / "plain", dataset="ds", modality="ct_00", case="c")
    assert tree_bytes(box.out) == tree_bytes(box.root / "plain")


def test_two_axis_nifti_is_one_z_slice(box):
    rng = np.random.default_rng(19)
    image = save_nifti(box.src / "flat.nii.gz", rng.normal(size=(16, 20)).astype(np.float32))
    lab = np.zeros((16, 20), np.uint8)
    lab[3:12, 4:15] = 2
    label = save_nifti(box.src / "flat_lab.nii.gz", lab)
    record = convert_and_compare(box, image, label)
    assert list(record.images) == ["images/ct_00--ds--flat--z_0000.png"]
    assert read_png(box.out / "images" / "ct_00--ds--flat--z_0000.png").shape == (20, 16)


def test_affine_within_1e_3_is_the_same_grid(box):
    rng = np.random.default_rng(20)
    image = good_image(box.src / "img.nii.gz", rng)
    label = good_label(box.src / "lab.nii.gz", rng, affine=_shifted_affine(0.0009))
    assert convert_and_compare(box, image, label).images


def test_big_endian_nifti(box):
    anatomical = Path(NIBABEL_DATA) / "anatomical.nii"
    img = nib.load(str(anatomical))
    assert img.header.endianness == ">" and img.get_data_dtype() == np.dtype(">i2")
    rng = np.random.default_rng(21)
    label = save_nifti(box.src / "anat_lab.nii.gz", blob_labels(img.shape, 4, rng), img.affine)
    record = convert_and_compare(box, anatomical, label, case="anat")
    assert record.images
    native = save_nifti(box.src / "native.nii.gz", np.asarray(img.dataobj).astype("<i2"), img.affine)
    convert_case(native, label, box.root / "native_out", dataset="ds", modality="ct_00", case="anat")
    assert tree_bytes(box.out) == tree_bytes(box.root / "native_out")


def test_scaled_nifti_first_volume(box):
    """functional.nii's first volume as a 3D file keeping its slope 0.0754 and intercept:
    normalised from the stored integers (SPEC 1), so equal to an unscaled copy."""
    functional = nib.load(str(Path(NIBABEL_DATA) / "functional.nii"))
    slope, inter = float(functional.dataobj.slope), float(functional.dataobj.inter)
    assert abs(slope - 0.0754) < 1e-3 and inter != 0
    stored = np.asarray(functional.dataobj.get_unscaled())[..., 0]
    image = save_nifti(box.src / "func0.nii", stored, functional.affine, slope=slope, inter=inter)
    assert abs(float(nib.load(str(image)).dataobj.slope) - slope) < 1e-6
    rng = np.random.default_rng(22)
    label = save_nifti(box.src / "func_lab.nii.gz", blob_labels(stored.shape, 3, rng), functional.affine)
    record = convert_and_compare(box, image, label, modality="mr_00", case="func")
    assert record.images
    plain = save_nifti(box.src / "plain.nii", stored, functional.affine)
    convert_case(plain, label, box.root / "plain_out", dataset="ds", modality="mr_00", case="func")
    assert tree_bytes(box.out) == tree_bytes(box.root / "plain_out")


def test_scaled_4d_nifti_as_channels(box):
    functional = Path(NIBABEL_DATA) / "functional.nii"
    shape = nib.load(str(functional)).shape
    rng = np.random.default_rng(23)
    label = save_nifti(box.src / "func_lab.nii.gz", blob_labels(shape[:3], 3, rng), nib.load(str(functional)).affine)
    record = convert_and_compare(box, functional, label, modality="mr_00", case="func")
    cases = {name.split("--")[2] for name in record.images}
    assert cases == {f"func_{c:04d}" for c in range(shape[3])}


NAMES = [
    ("../../etc/pa ss--wd\x01\u00e9\u4e2d", "_.._etc_pa_ss-wd___"),
    ("..", "_"),
    ("a\\b/c", "a_b_c"),
    ("--x--", "x"),
    ("cafe\u0301", "caf_"),  # NFD: NFC first, so one character, one '_'
    ("\t\x7f\x1b", "___"),
    ("\u4e2d\u6587", "__"),
    ("", "_"),
]


@pytest.mark.parametrize("case,expected", NAMES, ids=[e for _, e in NAMES])
def test_hostile_case_and_dataset_names_are_cleaned_inside_out(case, expected, box):
    rng = np.random.default_rng(24)
    image, label = write_good_nifti(box.src, "x", rng)
    record = convert_and_compare(box, image, label, dataset="..\\..\\ds--name ", modality="--ct/00--", case=case,
                                 class_names={1: "../../x", 2: "a\\b \u4e2d\x07", 3: "--"})
    assert record.images
    for path in box.out.rglob("*.png"):
        modality, dataset, field = path.name.split("--")[:3]
        assert (modality, dataset, field) == ("ct_00", "_.._ds-name_", expected), path.name
        assert path.parent.parent == box.out


def test_hostile_names_through_the_command(box):
    """File names with '\\', '..', '--', spaces, non-ASCII and control characters, a
    dataset.json name with '/' and '..', class names with all of these, union classes
    (their class field is a hash of the name): all cleaned, all inside OUT."""
    src = box.src / "Evil"
    stem = "-- ..\\ \u00e9\u4e2d\x01\t--x.."  # not starting with '.': dot-files are skipped as hidden
    image, label = nifti_paths(src, stem)
    good_image(image, np.random.default_rng(25), (16, 16, 16))
    lab = np.zeros((16, 16, 16), np.uint8)
    lab[2:14, 2:14, 2:14] = 1
    lab[5:11, 5:11, 5:11] = 2  # enclosed: union classes
    save_nifti(label, lab)
    labels = {"background": 0, "../../etc/passwd": 1, "a\\b --c \u00e9\u4e2d\x07": 2}
    (src / "dataset.json").write_text(json.dumps({"name": "../../evil ds", "channel_names": {"0": "CT"},
                                                  "labels": labels}), encoding="utf-8")
    before = box.listing()
    code, stdout, stderr = run_cli("convert", src, box.out, "-j", "1", "--no-progress", "--consolidate", "union")
    assert code == 0, stdout + stderr
    assert_all_under(box.out)
    box.assert_nothing_outside(before)
    images = list((box.out / "images").iterdir())
    assert images and all(p.name.split("--")[1:3] == ["_.._evil_ds", "_..______-x.."] for p in images)
    mapping = json.loads((box.out / "SAMed2D_v1_class_mapping_id.json").read_text(encoding="utf-8"))
    assert set(mapping) == {"_.._evil_ds"}
    assert {"../../etc/passwd", "a\\b --c \u00e9\u4e2d\x07"} <= set(mapping["_.._evil_ds"])
    assert any(name.startswith("union_") for name in mapping["_.._evil_ds"])
    assert not any(re.search(r"--u[0-9a-f]{8}_\d{3}\.png$", p.name) for p in (box.out / "masks").iterdir())
    assert run_cli("verify", box.out)[0] == 0


# ---- 2D label images: JPEG, palette, 1-bit ------------------------------------------------------------


def _2d_case(box, rng, label_kind: str):
    image, label = twod_paths(box.src, f"case_{label_kind}", lab_ext=".jpg" if label_kind == "jpeg" else ".png")
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(image)
    lab = label_2d((48, 40))
    if label_kind == "jpeg":  # a binary mask stored lossy: values near 0 and 255
        Image.fromarray((lab > 0).astype(np.uint8) * 255).save(label, quality=75)
    elif label_kind == "palette":
        pal = Image.new("P", (40, 48))
        pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (3 * 253))
        pal.putdata(lab.ravel().tolist())
        pal.save(label)
    elif label_kind == "1bit":
        Image.fromarray(lab > 0).save(label)
    return image, label


@pytest.mark.parametrize("label_kind,classes", [("jpeg", {"label_1": "0001"}), ("palette", {"label_1": "0001",
                                                "label_2": "0002"}), ("1bit", {"label_1": "0001"})])
def test_2d_label_image_formats(label_kind, classes, box):
    image, label = _2d_case(box, np.random.default_rng(26), label_kind)
    with Image.open(label) as im:
        assert im.format == ("JPEG" if label_kind == "jpeg" else "PNG")
        assert im.mode == {"jpeg": "L", "palette": "P", "1bit": "1"}[label_kind]
    record = convert_and_compare(box, image, label, modality="dermoscopy_00")
    assert record.classes == classes


def test_jpeg_image(box):
    rng = np.random.default_rng(27)
    image, label = twod_paths(box.src, "photo", img_ext=".jpg")
    Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(image, quality=90)
    Image.fromarray(label_2d((48, 40))).save(label)
    record = convert_and_compare(box, image, label, modality="dermoscopy_00")
    assert read_png(box.out / next(iter(record.images))).shape == (48, 40, 3)


# ---- large slices ------------------------------------------------------------------------------------


def _blob_grid(values: np.ndarray, size=4096, step=15) -> np.ndarray:
    """3x3 blobs on a ``step``-pixel grid of a size x size uint32 slice, blob i valued values[i]."""
    n = len(range(0, size - 2, step))
    lab = np.zeros((size, size), dtype=np.uint32)
    grid = np.zeros((n, step, n, step), dtype=np.uint32)
    grid[:, :3, :, :3] = values.reshape(n, 1, n, 1)
    grid = grid.reshape(n * step, n * step)
    lab[: min(size, n * step), : min(size, n * step)] = grid[:size, :size]
    return lab


@pytest.mark.parametrize("labels", ["distinct_up_to_2^32-1", "one_label"])
def test_4096_slice_with_more_than_65535_components(labels):
    cc3d = pytest.importorskip("cc3d")
    n = len(range(0, 4096 - 2, 15))
    if labels == "one_label":
        values = np.ones(n * n, dtype=np.uint32)
    else:  # distinct values spread over [1, 2^32-1], the largest included
        values = (np.arange(n * n, dtype=np.uint64) * 58271 % (2**32 - 1) + 1).astype(np.uint32)
        values[0] = 2**32 - 1
        assert len(np.unique(values)) == n * n
    lab = _blob_grid(values)
    expected = int(cc3d.connected_components(lab, connectivity=8).max())
    assert expected == n * n > 65535
    raw = slice_instances_raw(lab, 8, "outer", 0.0, with_components=False)
    assert len(raw["label"]) == expected
    assert np.all(np.asarray(raw["area"]) == 9)
    got = np.sort(np.asarray(raw["label"], dtype=np.uint64))
    np.testing.assert_array_equal(got, np.sort(values.astype(np.uint64)))
    assert int(got.max()) == (2**32 - 1 if labels != "one_label" else 1)
