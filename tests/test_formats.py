"""SPEC section 8 (issue 11): MetaImage, NRRD, Analyze, DICOM series and single DICOM files.

Whatever the container, the output is the one the same arrays would give as NIfTI (or as a
PNG for 2D images). The same volumes are written in every container here: the real CT and
MR of ../shared/data (the MR is stored LPS), crops and resamplings of them that give x and
y slices too (the real volumes are thin: only their z slices pass the aspect filter), and
small synthetic volumes in other orientations. Single DICOM files are written with pydicom
and checked against a plain numpy reference of SPEC sections 2 and 8; pydicom's own test
files are used as real files. The ``test_writer_*`` tests check this file's own setup (the
written files hold what they are meant to hold) and need no part of the package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from formats_helpers import (
    blob_labels_2d,
    canonical,
    dicom_2d_reference,
    dicom_2d_values,
    digest_tree,
    edit_dicom,
    itk_geometry,
    nifti_stored,
    pydicom_test_file,
    read_dicom_series_spec,
    read_itk_spec,
    write_analyze,
    write_dicom_2d,
    write_dicom_series,
    write_itk,
    write_enhanced_ct,
    write_itk_2d,
)
from helpers import (
    assert_output_equals_reference,
    blob_labels,
    oriented_affine,
    read_png,
    run_cli,
    save_nifti,
    tree_bytes,
)
from reference_pipeline import convert_case_ref, dataset_json_ref, normalize_volume

import pydicom  # the test extra has both; a missing one fails the file (no skip)
import SimpleITK as sitk

import samed2d_fast

DATASET = "fmt"
CASE = "case"
CLASSES = {1: "kidney", 2: "tumour", 3: "cyst"}
STATE_DIR = ".samed2d"


# ---- comparing two conversions ----------------------------------------------------------------


def convert(image, label, out: Path, **kwargs):
    kwargs.setdefault("dataset", DATASET)
    kwargs.setdefault("case", CASE)
    return samed2d_fast.convert_case(image, label, out, **kwargs)


def assert_same_conversion(out_a: Path, rec_a, out_b: Path, rec_b) -> None:
    """Byte-identical written trees and equal records (but ``sources``)."""
    ta, tb = tree_bytes(out_a), tree_bytes(out_b)
    only = sorted(set(ta) ^ set(tb))
    assert not only, f"files written by only one of the two conversions: {only[:10]}"
    differ = sorted(k for k in ta if ta[k] != tb[k])
    assert not differ, f"files that differ: {differ[:10]}"
    for name in ("dataset", "case", "images", "mask_boxes", "classes", "declared", "declared_max_id"):
        assert getattr(rec_a, name) == getattr(rec_b, name), name


def written_files(out: Path):
    return sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    return msg




def load_json(out: Path, name: str):
    return json.loads((Path(out) / name).read_text(encoding="utf-8"))


def near(msg: str, a: str, b: str, gap: int = 30) -> bool:
    """``a`` and ``b`` appear within ``gap`` characters of each other (either order)."""
    ea, eb = re.escape(a), re.escape(b)
    return bool(re.search(rf"{ea}.{{0,{gap}}}?(?<![\d.]){eb}(?![\d.])|(?<![\d.]){eb}(?![\d.]).{{0,{gap}}}?{ea}", msg))


# ---- the volumes: real (../shared/data) and synthetic ---------------------------------------------


@dataclass
class Source:
    name: str
    image: Path            # NIfTI, stored values with slope 1 (3D, or 4D channels)
    label: Path            # NIfTI uint8
    class_names: Dict[int, str]
    modality: object       # one tag, or a list (one per channel)
    xyz: bool              # x and y slices pass the aspect filter too
    int16: bool            # the image's values are exact in int16 (a DICOM series can hold it)


def _rotation(deg_z: float, deg_x: float) -> np.ndarray:
    tz, tx = np.deg2rad(deg_z), np.deg2rad(deg_x)
    rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
    return rz @ rx


# name -> (shape, perm, flips, zooms, image dtype, channels); every shape keeps x, y and z slices
SYNTHETIC = {
    "ras": ((20, 24, 22), (0, 1, 2), (0, 0, 0), (1.0, 1.0, 1.0), "int16", 1),
    "ari_lefthanded": ((18, 22, 16), (1, 0, 2), (0, 1, 0), (0.8, 1.2, 2.0), "int16", 1),
    "ipl": ((16, 20, 18), (2, 0, 1), (1, 0, 1), (2.0, 1.0, 1.5), "int16", 1),
    "pil": ((22, 18, 20), (1, 2, 0), (1, 1, 1), (1.1, 0.9, 1.3), "int16", 1),
    "oblique": ((20, 20, 18), None, None, (1.2, 1.0, 1.5), "int16", 1),
    "float32": ((18, 20, 22), (0, 2, 1), (0, 1, 0), (1.0, 1.5, 1.0), "float32", 1),
    "uint16": ((20, 18, 22), (2, 1, 0), (0, 0, 1), (1.0, 1.0, 2.0), "uint16", 1),
    "two_channels": ((18, 20, 16), (0, 1, 2), (1, 0, 0), (1.0, 1.0, 1.0), "int16", 2),
}


def _synthetic_source(name: str, root: Path) -> Source:
    shape, perm, flips, zooms, dtype, channels = SYNTHETIC[name]
    rng = np.random.default_rng(sorted(SYNTHETIC).index(name) + 100)
    if perm is None:
        affine = np.eye(4)
        affine[:3, :3] = _rotation(20, 10) @ np.diag(zooms)
        affine[:3, 3] = [-31.5, 12.25, 80.0]
    else:
        affine = oriented_affine(perm, flips, zooms)
    full = shape + ((channels,) if channels > 1 else ())
    if dtype == "int16":
        image = rng.integers(-1024, 1500, full).astype(np.int16)
    elif dtype == "uint16":
        image = rng.integers(0, 65536, full).astype(np.uint16)
    else:
        image = (rng.normal(0, 120, full) + 0.25).astype(np.float32)
        image[1, 2, 3] = np.nan  # NaN maps to 0 (SPEC 2), in every container
    label = blob_labels(shape, 3, rng)
    folder = root / "synthetic" / name
    folder.mkdir(parents=True)
    save_nifti(folder / "image.nii.gz", image, affine)
    save_nifti(folder / "label.nii.gz", label, affine)
    modality = ["mr_t1", "mr_t2"] if channels == 2 else "ct_00"
    return Source(name, folder / "image.nii.gz", folder / "label.nii.gz", dict(CLASSES), modality,
                  xyz=True, int16=dtype == "int16")


REAL = ("ct", "mr", "ct_crop", "mr_resampled")


def _real_source(name: str, root: Path, shared: Path) -> Source:
    which = "totalsegmentator_ct" if name.startswith("ct") else "totalsegmentator_mr"
    src = shared / which
    _, class_names = dataset_json_ref(src / "dataset.json")
    modality = "ct_00" if name.startswith("ct") else "mr_00"
    image, label = src / "imagesTr" / "example_0000.nii.gz", src / "labelsTr" / "example.nii.gz"
    if name in ("ct", "mr"):
        return Source(name, image, label, class_names, modality, xyz=False, int16=True)
    img, aff = nifti_stored(image)
    lab, _ = nifti_stored(label)
    if name == "ct_crop":  # 32 x 28 x 30 of the real CT: x, y and z slices
        i0, j0 = 44, 34
        img, lab = img[i0:i0 + 32, j0:j0 + 28, :], lab[i0:i0 + 32, j0:j0 + 28, :]
        aff = aff.copy()
        aff[:3, 3] = (aff @ [i0, j0, 0, 1])[:3]
    else:  # the real MR (stored LPS) cropped and resampled to 1.5 mm along z (nearest): 32 x 28 x 40
        i0, j0 = 40, 30
        img = np.repeat(img[i0:i0 + 32, j0:j0 + 28, :], 2, axis=2)
        lab = np.repeat(lab[i0:i0 + 32, j0:j0 + 28, :], 2, axis=2)
        aff = aff.copy()
        aff[:3, 3] = (aff @ [i0, j0, -0.25, 1])[:3]  # new slice 0 is old -0.25
        aff[:3, 2] /= 2
    folder = root / "real" / name
    folder.mkdir(parents=True)
    save_nifti(folder / "image.nii.gz", img, aff)
    save_nifti(folder / "label.nii.gz", lab, aff)
    return Source(name, folder / "image.nii.gz", folder / "label.nii.gz", class_names, modality,
                  xyz=True, int16=True)


class Lab:
    """Sources and their NIfTI conversions, built once per module."""

    def __init__(self, root: Path):
        self.root = root
        self.sources: Dict[str, Source] = {}
        self.baselines: Dict[str, tuple] = {}
        self.containers: Dict[tuple, tuple] = {}

    def source(self, name: str, shared: Optional[Path] = None) -> Source:
        if name not in self.sources:
            self.sources[name] = (_real_source(name, self.root, shared) if name in REAL
                                  else _synthetic_source(name, self.root))
        return self.sources[name]

    def container_folder(self, src: Source, container: str) -> Path:
        return self.root / "containers" / src.name / container

    def container(self, src: Source, container: str):
        """make_container's (image, label, series UID), written once."""
        key = (src.name, container)
        if key not in self.containers:
            self.containers[key] = make_container(src, container, self.container_folder(src, container))
        return self.containers[key]

    def baseline(self, src: Source):
        """(out folder, record) of the source converted from its NIfTI files."""
        if src.name not in self.baselines:
            out = self.root / "baseline" / src.name
            rec = convert(src.image, src.label, out, modality=src.modality, class_names=src.class_names)
            self.baselines[src.name] = (out, rec)
        return self.baselines[src.name]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    return Lab(tmp_path_factory.mktemp("formats"))


# ---- containers ----------------------------------------------------------------------------------

CONTAINERS_3D = ("mha", "mhd", "mhd_zraw", "nrrd", "nhdr_gz", "dicom+nii", "dicom+nrrd",
                 "nii+nrrd", "mha+nii", "nii+mhd")
CONTAINERS_4D = ("vector.mha", "vector.nrrd", "axis4d.mha", "axis4d.nhdr", "channels.mha+nii")


def make_container(src: Source, container: str, folder: Path):
    """(image, label, series UID or None) of the source written in ``container``:
    'A' alone is image and label as A; 'A+B' is the image as A and the label as B
    ('nii' is the source's own NIfTI file, 'dicom' a DICOM series folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    img, img_aff = nifti_stored(src.image)
    lab, lab_aff = nifti_stored(src.label)

    def itk(kind, fmt, arr, aff, **kw):
        suffix, compress = {"mha": (".mha", False), "mhd": (".mhd", False), "mhd_zraw": (".mhd", True),
                            "nrrd": (".nrrd", False), "nhdr_gz": (".nhdr", True), "nhdr": (".nhdr", False)}[fmt]
        return write_itk(folder / f"{kind}{suffix}", arr, aff, compress=compress, **kw)

    uid = None
    if img.ndim == 4:
        layout, fmt_and_label = container.split(".", 1)
        fmt, _, label_fmt = fmt_and_label.partition("+")
        if layout == "channels":
            image = [write_itk(folder / f"image_{c:04d}.{fmt}", img[..., c], img_aff) for c in range(img.shape[3])]
        else:
            image = itk("image", fmt, img, img_aff, channels="vector" if layout == "vector" else "axis")
        label = src.label if label_fmt == "nii" else itk("label", fmt, lab, lab_aff)
        return image, label, uid
    fmt, _, label_fmt = container.partition("+")
    label_fmt = label_fmt or fmt
    if fmt == "dicom":
        assert src.int16, f"{src.name}: a DICOM series holds int16 values"
        uid = f"1.2.826.0.1.3680043.8.498.{sorted(CONTAINERS).index(src.name) + 1}.1"
        write_dicom_series(folder / "series", img, img_aff, series_uid=uid,
                           modality="CT" if src.modality == "ct_00" else "MR")
        image = folder / "series"
    elif fmt == "nii":
        image = src.image
    else:
        image = itk("image", fmt, img, img_aff)
    label = src.label if label_fmt == "nii" else itk("label", label_fmt, lab, lab_aff)
    return image, label, uid


CORE = ("mha", "nrrd", "dicom+nii", "nii+nrrd")
# every source in the core containers; every container for a few (keeps the file fast)
CONTAINERS = {
    "ct": ("nrrd", "dicom+nii"),
    "mr": ("mha", "dicom+nii", "nii+nrrd"),
    "ct_crop": CORE + ("mha+nii",),
    "mr_resampled": ("nrrd", "dicom+nii"),
    "ras": CORE + ("nhdr_gz", "mhd_zraw"),
    "ari_lefthanded": CORE,
    "ipl": CORE,
    "pil": CONTAINERS_3D,
    "oblique": CORE + ("mhd",),
    "float32": ("mha", "mhd", "nrrd", "nii+nrrd"),   # not int16: no DICOM series
    "uint16": ("mha", "nrrd", "nhdr_gz"),
    "two_channels": CONTAINERS_4D,
}
assert set(CONTAINERS) == set(SYNTHETIC) | set(REAL)
assert set(CONTAINERS_3D) == {c for s, cs in CONTAINERS.items() for c in cs if s != "two_channels"}


def containers_of(src_name: str):
    return CONTAINERS[src_name]


SYNTH_CASES = [(s, c) for s in SYNTHETIC for c in containers_of(s)]
REAL_CASES = [(s, c) for s in REAL for c in containers_of(s)]


def _check_container(lab: Lab, src: Source, container: str, tmp_path: Path) -> None:
    base_out, base_rec = lab.baseline(src)
    image, label, _ = lab.container(src, container)
    inputs = lab.container_folder(src, container)
    before = (digest_tree(inputs), digest_tree(src.image.parent), digest_tree(src.label.parent))
    out = tmp_path / "out"
    rec = convert(image, label, out, modality=src.modality, class_names=src.class_names)
    assert_same_conversion(base_out, base_rec, out, rec)
    after = (digest_tree(inputs), digest_tree(src.image.parent), digest_tree(src.label.parent))
    assert after == before, "an input file changed"


@pytest.mark.parametrize("src_name,container", SYNTH_CASES, ids=[f"{s}-{c}" for s, c in SYNTH_CASES])
def test_same_volume_in_every_container_synthetic(lab, src_name, container, tmp_path):
    """A synthetic volume (other orientations, left-handed, oblique, float, uint16, two
    channels) as MetaImage, NRRD, a DICOM series and mixes converts byte-identically to its
    NIfTI files."""
    _check_container(lab, lab.source(src_name), container, tmp_path)


@pytest.mark.parametrize("src_name,container", REAL_CASES, ids=[f"{s}-{c}" for s, c in REAL_CASES])
def test_same_volume_in_every_container_real(lab, shared_data, src_name, container, tmp_path):
    """The real CT and MR (and crops/resamplings of them with x and y slices) as MetaImage,
    NRRD, a DICOM series and mixes convert byte-identically to their NIfTI files."""
    _check_container(lab, lab.source(src_name, shared_data), container, tmp_path)


def _check_baseline(lab: Lab, src: Source) -> None:
    out, rec = lab.baseline(src)
    ref = convert_case_ref(src.image, src.label, dataset=DATASET, modality=src.modality, case=CASE,
                           class_names=src.class_names)
    assert_output_equals_reference(out, rec, ref)
    axes = {name.rsplit("--", 1)[1][0] for name in rec.images}
    assert axes == ({"x", "y", "z"} if src.xyz else {"z"}), axes


@pytest.mark.parametrize("src_name", list(SYNTHETIC))
def test_nifti_baseline_is_the_reference_synthetic(lab, src_name):
    """The NIfTI conversions the containers are compared with follow the SPEC reference, and
    give x, y and z slices."""
    _check_baseline(lab, lab.source(src_name))


@pytest.mark.parametrize("src_name", REAL)
def test_nifti_baseline_is_the_reference_real(lab, shared_data, src_name):
    _check_baseline(lab, lab.source(src_name, shared_data))


# ---- setup checks (no package code) ------------------------------------------------------------


def _check_writer(lab_: "Lab", src: Source) -> None:
    img, img_aff = nifti_stored(src.image)
    lab, lab_aff = nifti_stored(src.label)
    for container in containers_of(src.name):
        image, label, uid = lab_.container(src, container)
        images = image if isinstance(image, list) else [image]
        if img.ndim == 4 and len(images) == 2:
            got = np.stack([read_itk_spec(p)[0] for p in images], axis=-1)
            got_aff = read_itk_spec(images[0])[1]
        elif Path(images[0]).is_dir():
            got, got_aff, pixel_type = read_dicom_series_spec(images[0], uid)
            assert pixel_type == "16-bit signed integer", pixel_type  # stored integers, slope 1
            assert sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(images[0])) == (uid,)
            # positions may come back in the other order: the canonical arrays are equal
            ca, caff = canonical(got, got_aff)
            cb, cbaff = canonical(img, img_aff)
            np.testing.assert_array_equal(ca, cb.astype(np.int16))
            assert np.abs(caff - cbaff).max() < 1e-4
            got, got_aff = img, img_aff
        elif images[0] == src.image:
            got, got_aff = img, img_aff
        else:
            got, got_aff = read_itk_spec(images[0])
        assert got.dtype == img.dtype and got.shape == img.shape, container
        np.testing.assert_array_equal(got, img, err_msg=container)
        assert np.abs(got_aff - img_aff).max() < 1e-9, container
        if label != src.label:
            got_lab, got_lab_aff = read_itk_spec(label)
            assert got_lab.dtype == lab.dtype
            np.testing.assert_array_equal(got_lab, lab)
            assert np.abs(got_lab_aff - lab_aff).max() < 1e-9


@pytest.mark.parametrize("src_name", list(SYNTHETIC))
def test_writer_containers_hold_the_nifti_synthetic(lab, src_name, tmp_path):
    """Setup check: each container file read back per SPEC 8 (SimpleITK) holds the NIfTI's
    stored array and affine; a DICOM series is int16 with one UID and the same canonical
    array and affine."""
    _check_writer(lab, lab.source(src_name))


@pytest.mark.parametrize("src_name", REAL)
def test_writer_containers_hold_the_nifti_real(lab, shared_data, src_name, tmp_path):
    _check_writer(lab, lab.source(src_name, shared_data))


def test_writer_itk_geometry_is_spec_inverse():
    """Setup check: [[F D diag(s), F o]] of (s, D, o) from an affine gives the affine back."""
    from formats_helpers import spec_affine

    for aff in (oriented_affine((1, 2, 0), (1, 0, 1), (0.7, 1.3, 2.5)), np.diag([-3.0, -3.0, 3.0, 1.0])):
        s, d, o = itk_geometry(aff)
        np.testing.assert_allclose(d @ d.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(spec_affine(s, d, o), aff, atol=1e-12)


# ---- Analyze -------------------------------------------------------------------------------------


ANALYZE = {
    # name: (spm2, slope, image dtype)
    "plain_int16": (False, None, np.int16),
    "spm2_slope2": (True, 2.0, np.int16),        # positive slope: stored integers (integer path)
    "spm2_negative_slope": (True, -0.5, np.int16),  # float path on the scaled values
    "float32": (False, None, np.float32),
}


def _analyze_case(name: str, root: Path):
    spm2, slope, dtype = ANALYZE[name]
    rng = np.random.default_rng(7)
    shape = (18, 20, 16)
    if dtype == np.float32:
        data = rng.normal(10, 50, shape).astype(np.float32)
    else:
        data = rng.integers(-900, 1200, shape).astype(dtype)
    label = blob_labels(shape, 3, rng)
    affine = np.diag([-1.5, 1.0, 2.0, 1.0])
    affine[:3, 3] = [12.0, -9.0, 4.5]
    root.mkdir(parents=True, exist_ok=True)
    image_path = write_analyze(root / "image.hdr", data, affine, spm2=spm2, slope=slope)
    label_path = write_analyze(root / "label.img", label, affine, spm2=spm2)
    loaded = nib.load(str(image_path))
    # the NIfTI twin: the same stored array, the affine and scaling nibabel reads from the pair
    twin = save_nifti(root / "twin_image.nii", data, loaded.affine, slope=slope)
    twin_label = save_nifti(root / "twin_label.nii", label, nib.load(str(label_path)).affine)
    return image_path, label_path, twin, twin_label


@pytest.mark.parametrize("name", list(ANALYZE))
def test_analyze_converts_as_nifti(name, tmp_path):
    """SPEC 8: an Analyze pair (given by its .hdr files) converts as a NIfTI of the same
    stored array, affine and scaling (nibabel.load's Spm2AnalyzeImage)."""
    image, label, twin, twin_label = _analyze_case(name, tmp_path / "in")
    before = digest_tree(tmp_path / "in")
    rec_twin = convert(twin, twin_label, tmp_path / "twin", modality="ct_00", class_names=CLASSES)
    rec = convert(image, label.with_suffix(".hdr"), tmp_path / "out", modality="ct_00", class_names=CLASSES)
    assert_same_conversion(tmp_path / "twin", rec_twin, tmp_path / "out", rec)
    assert {n.rsplit("--", 1)[1][0] for n in rec.images} == {"x", "y", "z"}
    assert digest_tree(tmp_path / "in") == before


def test_analyze_pair_given_by_its_img_file(tmp_path):
    """SPEC 8 names both suffixes of Analyze (.hdr/.img): a pair given by its .img file (as
    nibabel.load takes it) converts the same."""
    image, label, twin, twin_label = _analyze_case("spm2_slope2", tmp_path / "in")
    rec_twin = convert(twin, twin_label, tmp_path / "twin", modality="ct_00", class_names=CLASSES)
    rec = convert(image.with_suffix(".img"), label, tmp_path / "out", modality="ct_00", class_names=CLASSES)
    assert_same_conversion(tmp_path / "twin", rec_twin, tmp_path / "out", rec)


@pytest.mark.parametrize("name", list(ANALYZE))
def test_writer_analyze_twin(name, tmp_path):
    """Setup check: the Analyze pair loads (as Spm2AnalyzeImage) with the NIfTI twin's stored
    array, affine and scaling."""
    image, label, twin, twin_label = _analyze_case(name, tmp_path)
    a, b = nib.load(str(image)), nib.load(str(twin))
    assert type(a).__name__ == "Spm2AnalyzeImage"
    np.testing.assert_array_equal(np.asarray(a.dataobj.get_unscaled()), np.asarray(b.dataobj.get_unscaled()))
    np.testing.assert_allclose(a.affine, b.affine)
    assert (float(a.dataobj.slope), float(a.dataobj.inter)) == (float(b.dataobj.slope), float(b.dataobj.inter))
    np.testing.assert_array_equal(a.get_fdata(), b.get_fdata())
    np.testing.assert_array_equal(nib.load(str(label)).get_fdata(), nib.load(str(twin_label)).get_fdata())


# ---- 2D ITK images ---------------------------------------------------------------------------------


TWO_D_ITK = {
    # name: the Pillow file the same array is compared as
    "grey_uint16": "png",
    "grey_uint8": "png",
    "grey_float32": "tiff",
    "rgb": "png",
    "rgba": "png",
}


def _array_2d(name: str, rng) -> np.ndarray:
    h, w = 48, 64
    if name == "grey_uint16":
        return rng.integers(100, 60000, (h, w)).astype(np.uint16)
    if name == "grey_uint8":
        return rng.integers(3, 250, (h, w)).astype(np.uint8)
    if name == "grey_float32":
        return rng.normal(0, 3, (h, w)).astype(np.float32)
    if name == "rgb":
        return rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    a = rng.integers(0, 256, (h, w, 4)).astype(np.uint8)
    a[..., 3] = rng.integers(0, 256, (h, w))  # alpha, dropped
    return a


def _write_like_png(path: Path, arr: np.ndarray) -> Path:
    """The array as a Pillow file (uint16 -> I;16 PNG, float32 -> F TIFF, RGBA -> RGBA PNG)."""
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("fmt", ["mha", "nrrd"])
@pytest.mark.parametrize("name", list(TWO_D_ITK))
def test_2d_itk_image_converts_as_png(name, fmt, tmp_path):
    """SPEC 8: a 2D .mha/.nrrd (grey, or 3/4 components as RGB, alpha dropped) is a 2D image:
    the rows x columns array, no reorientation (its direction and spacing change nothing),
    no aspect filter, 2d_none; labels as a 2D .nrrd or a PNG."""
    rng = np.random.default_rng(11)
    arr = _array_2d(name, rng)
    lab = blob_labels_2d(arr.shape[:2], rng)
    src = tmp_path / "in"
    src.mkdir()
    twin = _write_like_png(src / f"twin.{TWO_D_ITK[name]}", arr)
    twin_label = _write_like_png(src / "twin_label.png", lab)
    image = write_itk_2d(src / f"image.{fmt}", arr)
    label_itk = write_itk_2d(src / f"label.{fmt}", lab)
    before = digest_tree(src)
    rec_twin = convert(twin, twin_label, tmp_path / "twin", modality="x_ray", class_names=CLASSES)
    assert list(rec_twin.images) == [f"images/x_ray--{DATASET}--{CASE}--2d_none.png"]
    for label, out in ((twin_label, "out_png_label"), (label_itk, "out_itk_label")):
        rec = convert(image, label, tmp_path / out, modality="x_ray", class_names=CLASSES)
        assert_same_conversion(tmp_path / "twin", rec_twin, tmp_path / out, rec)
    assert digest_tree(src) == before


def test_2d_itk_thin_image_has_no_aspect_filter(tmp_path):
    """A 2D ITK image 10 x 64 is written (2D images have no aspect filter)."""
    rng = np.random.default_rng(12)
    arr = rng.integers(0, 4000, (10, 64)).astype(np.uint16)
    lab = np.zeros((10, 64), np.uint8)
    lab[2:8, 5:40] = 2
    image = write_itk_2d(tmp_path / "thin.nrrd", arr)
    label = write_itk_2d(tmp_path / "thin_label.nrrd", lab)
    rec = convert(image, label, tmp_path / "out", modality="x_ray")
    (name,) = rec.images
    np.testing.assert_array_equal(read_png(tmp_path / "out" / name), normalize_volume(arr))


def test_writer_2d_itk(tmp_path):
    """Setup check: the 2D ITK files read back as the arrays, with dimension 2."""
    rng = np.random.default_rng(11)
    for name in TWO_D_ITK:
        arr = _array_2d(name, rng)
        for fmt in ("mha", "nrrd"):
            path = write_itk_2d(tmp_path / f"{name}.{fmt}", arr)
            img = sitk.ReadImage(str(path))
            assert img.GetDimension() == 2
            assert img.GetNumberOfComponentsPerPixel() == (arr.shape[2] if arr.ndim == 3 else 1)
            np.testing.assert_array_equal(sitk.GetArrayFromImage(img), arr)
        twin = _write_like_png(tmp_path / f"{name}.{TWO_D_ITK[name]}", arr)
        with Image.open(twin) as im:
            back = np.asarray(im)
        np.testing.assert_array_equal(back, arr)


# ---- single DICOM files -------------------------------------------------------------------------------


def _dicom_2d_kinds():
    """name -> (array maker, write_dicom_2d keyword arguments)."""
    return {
        "mono2_12bit": (lambda r: r.integers(0, 4096, (40, 56)).astype(np.uint16),
                        dict(bits_stored=12, modality="DX")),
        "mono2_rescale_voi": (lambda r: r.integers(-1000, 3000, (40, 56)).astype(np.int16),
                              dict(slope=2, intercept=-1024, modality="CR",
                                   extra={"WindowCenter": 40, "WindowWidth": 400})),  # VOI LUT: ignored
        "mono2_fraction_slope": (lambda r: r.integers(0, 1000, (40, 56)).astype(np.uint16),
                                 dict(slope=0.25, intercept=3.5, modality="DX")),
        "mono1": (lambda r: r.integers(0, 4096, (40, 56)).astype(np.uint16),
                  dict(photometric="MONOCHROME1", bits_stored=12, modality="CR")),
        "mono1_rescale": (lambda r: r.integers(20, 1000, (40, 56)).astype(np.uint16),
                          dict(photometric="MONOCHROME1", slope=1.5, intercept=-7, modality="CR")),
        "inverse_lut": (lambda r: r.integers(0, 4096, (40, 56)).astype(np.uint16),
                        dict(presentation_lut="INVERSE", bits_stored=12, modality="DX")),
        "mono1_and_inverse": (lambda r: r.integers(0, 4096, (40, 56)).astype(np.uint16),
                              dict(photometric="MONOCHROME1", presentation_lut="INVERSE", bits_stored=12,
                                   modality="CR")),
        "negative_slope": (lambda r: r.integers(-2000, 2000, (40, 56)).astype(np.int16),
                           dict(slope=-1.5, intercept=100, modality="DX")),
        "negative_slope_mono1": (lambda r: r.integers(-2000, 2000, (40, 56)).astype(np.int16),
                                 dict(photometric="MONOCHROME1", slope=-0.75, intercept=0.5, modality="CR")),
        "mono2_8bit": (lambda r: r.integers(10, 200, (40, 56)).astype(np.uint8), dict(modality="US")),
        "rgb": (lambda r: r.integers(0, 256, (40, 56, 3)).astype(np.uint8),
                dict(photometric="RGB", modality="US")),
        # a positive slope inexact in binary: the float path would differ from the integer one
        "mono2_inexact_slope": (lambda r: r.permutation(4096).reshape(64, 64).astype(np.uint16),  # every value
                                dict(slope=0.1, intercept=-3, bits_stored=12, modality="DX")),
    }


DICOM_2D = list(_dicom_2d_kinds())
REAL_DICOM_2D = ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
                 "examples_rgb_color.dcm", "examples_palette.dcm", "SC_ybr_full_422_uncompressed.dcm"]


def _write_dicom_kind(name: str, folder: Path) -> Path:
    make, kwargs = _dicom_2d_kinds()[name]
    rng = np.random.default_rng(DICOM_2D.index(name) + 40)
    folder.mkdir(parents=True, exist_ok=True)
    return write_dicom_2d(folder / f"{name}.dcm", make(rng), **kwargs)


def _check_dicom_2d(image: Path, tmp_path: Path, modality: str) -> None:
    """The DICOM file converts to the reference 8-bit image, and exactly as a PNG of that
    image (which normalises to itself: its minimum is 0 and its maximum 255) would."""
    expected = dicom_2d_reference(image)
    assert expected.min() == 0 and expected.max() == 255
    rng = np.random.default_rng(5)
    src = image.parent
    label = src / "label.png"
    Image.fromarray(blob_labels_2d(expected.shape[:2], rng)).save(label)
    twin = src / "twin.png"
    Image.fromarray(expected).save(twin)
    before = digest_tree(src)
    rec = convert(image, label, tmp_path / "out", modality=modality, class_names=CLASSES)
    name = f"images/{modality}--{DATASET}--{CASE}--2d_none.png"
    assert list(rec.images) == [name]
    got = read_png(tmp_path / "out" / name)
    assert got.shape == expected.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    rec_twin = convert(twin, label, tmp_path / "twin", modality=modality, class_names=CLASSES)
    assert_same_conversion(tmp_path / "twin", rec_twin, tmp_path / "out", rec)
    assert digest_tree(src) == before


@pytest.mark.parametrize("name", DICOM_2D)
def test_dicom_file_2d(name, tmp_path):
    """SPEC 8, one DICOM file with one frame: integer path on the stored values when the
    slope is positive, else the float path on x * slope + intercept; inverted when exactly
    one of MONOCHROME1 and PresentationLUTShape INVERSE holds; VOI LUT ignored; RGB colour."""
    image = _write_dicom_kind(name, tmp_path / "in")
    _check_dicom_2d(image, tmp_path, "x_ray")


@pytest.mark.parametrize("filename", REAL_DICOM_2D)
def test_dicom_file_2d_real(filename, tmp_path):
    """pydicom's real files (CT, MR in several transfer syntaxes, colour ultrasound: RGB,
    palette, YBR_FULL_422) with label PNGs made here."""

    src = tmp_path / "in"
    src.mkdir()
    image = Path(shutil.copy(pydicom_test_file(filename), src / filename))
    ds = pydicom.dcmread(str(image), stop_before_pixels=True)
    modality = {"CT": "ct_00", "MR": "mr_00", "US": "ultrasound_00"}.get(ds.Modality, "x_ray")
    _check_dicom_2d(image, tmp_path, modality)


def test_writer_dicom_2d_reference(tmp_path):
    """Setup check: the written files hold the arrays and tags meant, and the numpy
    reference does what SPEC 8 says (inversion, float path), also against SimpleITK/GDCM's
    own reading (which inverts MONOCHROME1 over the stored bit range: same normalised result)."""
    kinds = _dicom_2d_kinds()
    files = {name: _write_dicom_kind(name, tmp_path) for name in kinds}
    arrays = {name: kinds[name][0](np.random.default_rng(DICOM_2D.index(name) + 40)) for name in kinds}
    for name, path in files.items():
        ds = pydicom.dcmread(str(path))
        np.testing.assert_array_equal(ds.pixel_array, arrays[name])
        assert "NumberOfFrames" not in ds or int(ds.NumberOfFrames) == 1
    x = arrays["mono1"].astype(np.int64)
    np.testing.assert_array_equal(dicom_2d_values(files["mono1"]), x.min() + x.max() - x)
    x = arrays["inverse_lut"].astype(np.int64)
    np.testing.assert_array_equal(dicom_2d_values(files["inverse_lut"]), x.min() + x.max() - x)
    np.testing.assert_array_equal(dicom_2d_values(files["mono1_and_inverse"]), arrays["mono1_and_inverse"])
    np.testing.assert_array_equal(dicom_2d_values(files["mono2_rescale_voi"]), arrays["mono2_rescale_voi"])
    y = arrays["negative_slope"].astype(np.float64) * -1.5 + 100
    v = dicom_2d_values(files["negative_slope"])
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v, y)
    y = arrays["negative_slope_mono1"].astype(np.float64) * -0.75 + 0.5
    np.testing.assert_array_equal(dicom_2d_values(files["negative_slope_mono1"]), y.min() + y.max() - y)
    # the integer path is pinned: the float path on y gives other pixels for this file
    x = arrays["mono2_inexact_slope"]
    assert (normalize_volume(x.astype(np.float64) * 0.1 - 3) != dicom_2d_reference(files["mono2_inexact_slope"])).any()
    # an inverted image is the normalised stored image turned over: ceil(255 (hi - x) / d)
    x = arrays["mono1"].astype(np.int64)
    lo, hi = x.min(), x.max()
    np.testing.assert_array_equal(dicom_2d_reference(files["mono1"]),
                                  ((255 * (hi - x) + (hi - lo) - 1) // (hi - lo)).astype(np.uint8))
    # GDCM's own MONOCHROME1 reading (inverted over the stored bit range) normalises the same
    # (issue 11's warning: inverting its output again would be wrong)
    gdcm = sitk.GetArrayFromImage(sitk.ReadImage(str(files["mono1"])))[0]
    assert gdcm.dtype.kind in "iu"
    np.testing.assert_array_equal(gdcm.astype(np.int64), 4095 - arrays["mono1"].astype(np.int64))
    np.testing.assert_array_equal(normalize_volume(gdcm), dicom_2d_reference(files["mono1"]))


# ---- DICOM files that are not a 2D image or label map -------------------------------------------------


def _assert_fails_clean(image, label, out: Path, patterns, names, **kwargs) -> str:
    with pytest.raises(ValueError) as excinfo:
        convert(image, label, out, modality=kwargs.pop("modality", "ultrasound_00"), **kwargs)
    msg = one_line_error(excinfo)
    assert any(n in msg for n in names), f"the message names none of {names}: {msg}"
    assert re.search(patterns, msg, re.I), f"the cause is not named: {msg}"
    assert written_files(out) == [], "a failed case left files"
    return msg


def test_dicom_cine_loop_fails_clearly(tmp_path):
    """A multi-frame file without per-frame positions (a cine loop) is neither a 2D image nor a
    volume: one line naming the file."""

    rng = np.random.default_rng(21)
    src = tmp_path / "in"
    src.mkdir()
    synthetic = write_dicom_2d(src / "us_0001.dcm", rng.integers(0, 255, (5, 30, 44)).astype(np.uint8),
                               modality="US")
    real = Path(shutil.copy(pydicom_test_file("examples_ybr_color.dcm"), src / "examples_ybr_color.dcm"))
    for image in (synthetic, real):
        ds = pydicom.dcmread(str(image), stop_before_pixels=True)
        label = src / f"{image.stem}_label.png"
        Image.fromarray(blob_labels_2d((ds.Rows, ds.Columns), rng)).save(label)
        _assert_fails_clean(image, label, tmp_path / f"out_{image.stem}", r"frame|cine|multi", [image.name])


def test_dicom_seg_and_rtstruct_as_label_fail_clearly(tmp_path):
    """SPEC 8: DICOM SEG and RTSTRUCT objects are not label maps."""

    src = tmp_path / "in"
    src.mkdir()
    # neutral names: the message, not the file name, must say what the object is
    seg = Path(shutil.copy(pydicom_test_file("liver_1frame.dcm"), src / "liver_mask.dcm"))
    rt = src / "contours.dcm"  # pydicom's RTSTRUCT has no file meta header: written here with one
    ds = pydicom.dcmread(pydicom_test_file("rtstruct.dcm"), force=True)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(str(rt), enforce_file_format=True)
    assert pydicom.dcmread(str(rt)).Modality == "RTSTRUCT"
    image = src / "image.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (512, 512)).astype(np.uint8)).save(image)
    _assert_fails_clean(image, seg, tmp_path / "out_seg", r"SEG|segmentation", [seg.name], modality="ct_00")
    _assert_fails_clean(image, rt, tmp_path / "out_rt", r"RTSTRUCT|structure", [rt.name], modality="ct_00")


def test_dicom_modality_lut_sequence_fails(tmp_path):
    """SPEC 8: a Modality LUT Sequence fails the case (naming the file)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    rng = np.random.default_rng(22)
    src = tmp_path / "in"
    src.mkdir()
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.ModalityLUTType = "HU"
    item.add_new(0x00283006, "US", list(range(0, 2 * 256, 2)))  # LUTData
    image = write_dicom_2d(src / "xr_0001.dcm", rng.integers(0, 256, (40, 56)).astype(np.uint16), bits_stored=8,
                           modality="CR", extra={"ModalityLUTSequence": DicomSequence([item])})
    assert "ModalityLUTSequence" in pydicom.dcmread(str(image))
    label = src / "label.png"
    Image.fromarray(blob_labels_2d((40, 56), rng)).save(label)
    _assert_fails_clean(image, label, tmp_path / "out", r"LUT", [image.name], modality="x_ray")


# ---- DICOM series: several series, and series that are not one even volume ---------------------------------

UID_A = "1.2.826.0.1.3680043.8.498.7001"
UID_B = "1.2.826.0.1.3680043.8.498.7002"


def _series_volume(seed: int, shape=(20, 18, 16)):
    rng = np.random.default_rng(seed)
    affine = oriented_affine((0, 1, 2), (1, 1, 0), (1.0, 1.0, 2.0))
    return rng.integers(-1000, 2000, shape).astype(np.int16), blob_labels(shape, 3, rng), affine


def _two_series_folder(root: Path):
    """A folder with series A (16 files) and B (9 files), the single-series twin of A, and
    the label of each (and B's image as root/image_b.nii.gz)."""
    img_a, lab_a, aff = _series_volume(31)
    img_b, lab_b, _ = _series_volume(32, (20, 18, 9))
    both = root / "both"
    write_dicom_series(both, img_a, aff, series_uid=UID_A, prefix="A", series_number=1)
    write_dicom_series(both, img_b, aff, series_uid=UID_B, prefix="B", series_number=2)
    only_a = root / "only_a"
    write_dicom_series(only_a, img_a, aff, series_uid=UID_A, prefix="A", series_number=1)
    label_a = save_nifti(root / "label_a.nii.gz", lab_a, aff)
    label_b = save_nifti(root / "label_b.nii.gz", lab_b, aff)
    save_nifti(root / "image_b.nii.gz", img_b, aff)  # series B as NIfTI
    return both, only_a, label_a, label_b


def test_dicom_folder_with_two_series(tmp_path):
    """Two series in one folder fail naming each UID and its file count; ``series=`` picks
    one, which converts as the folder holding it alone."""
    both, only_a, label_a, label_b = _two_series_folder(tmp_path / "in")
    before = digest_tree(tmp_path / "in")
    with pytest.raises(ValueError) as excinfo:
        convert(both, label_a, tmp_path / "fail", modality="ct_00")
    msg = one_line_error(excinfo)
    assert UID_A in msg and UID_B in msg, msg
    assert near(msg, UID_A, "16") and near(msg, UID_B, "9"), f"file counts not named with their UIDs: {msg}"
    assert written_files(tmp_path / "fail") == []
    rec_alone = convert(only_a, label_a, tmp_path / "alone", modality="ct_00", class_names=CLASSES)
    rec_a = convert(both, label_a, tmp_path / "a", modality="ct_00", class_names=CLASSES, series=UID_A)
    assert_same_conversion(tmp_path / "alone", rec_alone, tmp_path / "a", rec_a)
    rec_b = convert(both, label_b, tmp_path / "b", modality="ct_00", class_names=CLASSES, series=UID_B)
    rec_b_nifti = convert(tmp_path / "in" / "image_b.nii.gz", label_b, tmp_path / "b_nifti", modality="ct_00",
                          class_names=CLASSES)
    assert_same_conversion(tmp_path / "b_nifti", rec_b_nifti, tmp_path / "b", rec_b)
    assert digest_tree(tmp_path / "in") == before


BAD_SERIES = ("duplicate", "uneven", "rescale")


def _bad_series(kind: str, folder: Path):
    """A 16-slice series with one defect; returns (folder, matching NIfTI label path)."""
    img, lab, aff = _series_volume(33)
    files = write_dicom_series(folder, img, aff, series_uid=f"1.2.826.0.1.3680043.8.498.73{BAD_SERIES.index(kind)}")
    if kind == "duplicate":  # slice 6 at slice 5's position
        pos = pydicom.dcmread(str(files[5])).ImagePositionPatient
        edit_dicom(files[6], ImagePositionPatient=list(pos))
    elif kind == "uneven":  # slices 8.. moved 1 mm further: one gap of 3 mm among gaps of 2 mm
        for f in files[8:]:
            pos = [float(v) for v in pydicom.dcmread(str(f)).ImagePositionPatient]
            edit_dicom(f, ImagePositionPatient=[pos[0], pos[1], pos[2] + 1.0])
    else:  # one slice with another rescale slope
        edit_dicom(files[3], RescaleSlope=2)
    label = save_nifti(folder.parent / f"{folder.name}.nii.gz", lab, aff)
    return folder, label


CAUSES = {"duplicate": r"duplicate|position", "uneven": r"spacing|uneven|gap", "rescale": r"rescale|slope"}
# folder names that name no cause (the message must)
BAD_FOLDER = {"duplicate": "series1", "uneven": "series2", "rescale": "series3"}


@pytest.mark.parametrize("kind", BAD_SERIES)
def test_dicom_series_not_one_even_volume_fails(kind, tmp_path):
    """SPEC 8: duplicate slice positions, uneven slice spacing (> 1% from the median), a
    rescale that differs between slices: one line naming the series and the cause."""
    folder, label = _bad_series(kind, tmp_path / "in" / BAD_FOLDER[kind])
    with pytest.raises(ValueError) as excinfo:
        convert(folder, label, tmp_path / "out", modality="ct_00")
    msg = one_line_error(excinfo)
    assert str(folder) in msg or folder.name in msg, msg
    assert re.search(CAUSES[kind], msg, re.I), f"cause not named: {msg}"
    assert written_files(tmp_path / "out") == []


def test_writer_dicom_series_defects(tmp_path):
    """Setup check: the two-series folder holds two series of 16 and 9 files; the bad series
    hold the defect they are named after, and nothing else."""
    both, only_a, _, _ = _two_series_folder(tmp_path / "two")
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(both))
    assert sorted(ids) == sorted([UID_A, UID_B])
    assert len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(both), UID_A)) == 16
    assert len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(both), UID_B)) == 9
    for kind in BAD_SERIES:
        folder, _ = _bad_series(kind, tmp_path / kind)
        dss = [pydicom.dcmread(str(p), stop_before_pixels=True) for p in sorted(folder.iterdir())]
        assert len({ds.SeriesInstanceUID for ds in dss}) == 1 and len(dss) == 16
        z = sorted(float(ds.ImagePositionPatient[2]) for ds in dss)
        gaps = np.diff(z)
        slopes = {float(ds.RescaleSlope) for ds in dss}
        assert (gaps.min() == 0) == (kind == "duplicate")
        spread = np.abs(gaps[gaps > 0] - np.median(gaps)) / np.median(gaps)
        assert (spread.max() > 0.01) == (kind in ("uneven", "duplicate")), (kind, gaps)
        assert (len(slopes) > 1) == (kind == "rescale")


# ---- label sets: a class file on another grid ---------------------------------------------------------------


def test_label_set_class_file_on_another_grid_fails(tmp_path):
    """A class file (label set, SPEC 8) in an ITK format on another grid fails naming it."""
    rng = np.random.default_rng(41)
    shape = (16, 18, 14)
    affine = oriented_affine((0, 1, 2), (0, 0, 0), (1.0, 1.0, 1.0))
    image = write_itk(tmp_path / "image.mha", rng.integers(0, 900, shape).astype(np.int16), affine)
    good = write_itk(tmp_path / "kidney.nrrd", (blob_labels(shape, 1, rng) > 0).astype(np.uint8), affine)
    bad = write_itk(tmp_path / "cyst.nrrd", (blob_labels((16, 18, 12), 1, rng) > 0).astype(np.uint8), affine)
    with pytest.raises(ValueError) as excinfo:
        convert(image, {"kidney": good, "cyst": bad}, tmp_path / "out", modality="ct_00",
                class_names={1: "kidney", 2: "cyst"})
    msg = one_line_error(excinfo)
    assert "cyst.nrrd" in msg, msg
    assert written_files(tmp_path / "out") == []


# ---- the command line: bad inputs fail in one line, the others go on -----------------------------------------


def _assert_failures(out: Path, stderr: str, expected: Dict[str, Tuple[Tuple[str, ...], str]], dataset: str):
    """failures.json lists exactly the expected cases, each one line naming one of its files
    and the cause; stderr has one line per failure; nothing of theirs is left in OUT."""
    failures = load_json(out, "failures.json")
    errors = {f["case"]: f["error"] for f in failures}
    assert set(errors) == {f"{dataset}--{c}" for c in expected}, errors
    for case, (names, cause) in expected.items():
        e = errors[f"{dataset}--{case}"]
        assert "\n" not in e
        assert any(n in e for n in names), f"{case}: none of {names} named in {e!r}"
        assert re.search(cause, e, re.I), f"{case}: cause {cause!r} not named in {e!r}"
        lines = [line for line in stderr.splitlines() if any(n in line for n in names)]
        assert len(lines) == 1, stderr  # one line per failed case
    for p in out.rglob("*"):
        if STATE_DIR in p.relative_to(out).parts or not p.is_file() or p.suffix != ".png":
            continue
        case = p.name.split("--")[2]
        assert case not in expected, f"{p} of a failed case is left in OUT"


def test_cli_bad_metaimage_cases_fail_and_others_go_on(tmp_path):
    """`samed2d convert --images 'img/*.mhd' --labels 'lab/*.nrrd'`: a .raw cut short, a .raw
    missing, a label of another shape and one of another position fail in one line each; the
    good case converts as its NIfTI twin does."""
    rng = np.random.default_rng(51)
    shape = (18, 20, 16)
    affine = oriented_affine((0, 1, 2), (1, 0, 0), (1.0, 1.0, 1.5))
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    (src / "lab").mkdir()
    (src / "nii").mkdir()
    for case in ("good", "m1", "m2", "m3", "m4"):
        image = rng.integers(-500, 900, shape).astype(np.int16)
        label = blob_labels(shape, 3, rng)
        write_itk(src / "img" / f"{case}.mhd", image, affine)
        label_shape_affine = affine
        if case == "m3":
            label = blob_labels((18, 20, 14), 3, rng)
        if case == "m4":
            label_shape_affine = affine.copy()
            label_shape_affine[:3, 3] += [0.0, 5.0, 0.0]
        write_itk(src / "lab" / f"{case}.nrrd", label, label_shape_affine)
        if case == "good":
            save_nifti(src / "nii" / "good.nii.gz", image, affine)
            save_nifti(src / "nii" / "good_label.nii.gz", label, affine)
    raw = src / "img" / "m1.raw"
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])
    (src / "img" / "m2.raw").unlink()
    before = digest_tree(src)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("convert", "--images", f"{src}/img/*.mhd", "--labels", f"{src}/lab/*.nrrd",
                                   "--modality", "CT", "--dataset", "meta", out, "-j", "1", "--no-progress")
    assert code == 1, stderr
    _assert_failures(out, stderr, {
        "m1": (("m1.raw", "m1.mhd"), r"short|truncat|size|bytes|expected|end of file"),
        "m2": (("m2.raw", "m2.mhd"), r"missing|not found|no such|does not exist|cannot|can't"),
        "m3": (("m3.nrrd", "m3.mhd"), r"shape|grid|size|differ"),
        "m4": (("m4.nrrd", "m4.mhd"), r"affine|origin|grid|position|differ"),
    }, "meta")
    summary = load_json(out, "summary.json")
    assert summary["failed"] == 4 and summary["cases"] == 1
    twin = tmp_path / "twin"
    rec = convert(src / "nii" / "good.nii.gz", src / "nii" / "good_label.nii.gz", twin, dataset="meta",
                  case="good", modality="ct_00")
    release = load_json(out, "SAMed2D_v1.json")
    assert release == {k: v for k, v in rec.images.items()}
    for name in [*rec.images, *(m for ms in rec.images.values() for m in ms)]:
        assert (out / name).read_bytes() == (twin / name).read_bytes(), name
    assert digest_tree(src) == before


def test_cli_bad_dicom_series_fail_and_others_go_on(tmp_path):
    """`samed2d convert --images 'dcm/*' --labels 'lab/*.nii.gz'` over DICOM folders: two
    series, duplicate positions, uneven spacing, a rescale that differs fail in one line
    each; the good series (beside a file that is not DICOM) converts as its NIfTI twin."""
    src = tmp_path / "src"
    (src / "dcm").mkdir(parents=True)
    (src / "lab").mkdir()
    img, lab, aff = _series_volume(61)
    write_dicom_series(src / "dcm" / "good", img, aff, series_uid="1.2.826.0.1.3680043.8.498.7100")
    (src / "dcm" / "good" / "notes.txt").write_text("not a DICOM file\n")
    save_nifti(src / "lab" / "good.nii.gz", lab, aff)
    save_nifti(tmp_path / "good_image.nii.gz", img, aff)
    both, _, label_a, _ = _two_series_folder(tmp_path / "two")
    shutil.copytree(both, src / "dcm" / "two")
    shutil.copy(label_a, src / "lab" / "two.nii.gz")
    for kind in BAD_SERIES:
        folder, label = _bad_series(kind, tmp_path / "bad" / BAD_FOLDER[kind])
        shutil.copytree(folder, src / "dcm" / BAD_FOLDER[kind])
        shutil.copy(label, src / "lab" / f"{BAD_FOLDER[kind]}.nii.gz")
    before = digest_tree(src)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("convert", "--images", f"{src}/dcm/*", "--labels", f"{src}/lab/*.nii.gz",
                                   "--modality", "CT", "--dataset", "dcm", out, "-j", "1", "--no-progress")
    assert code == 1, stderr
    expected = {"two": (("dcm/two",), re.escape(UID_A) + ".*" + re.escape(UID_B) + "|"
                        + re.escape(UID_B) + ".*" + re.escape(UID_A))}
    expected.update({BAD_FOLDER[kind]: ((f"dcm/{BAD_FOLDER[kind]}",), CAUSES[kind]) for kind in BAD_SERIES})
    _assert_failures(out, stderr, expected, "dcm")
    (two,) = [f["error"] for f in load_json(out, "failures.json") if f["case"] == "dcm--two"]
    assert near(two, UID_A, "16") and near(two, UID_B, "9"), two
    summary = load_json(out, "summary.json")
    assert summary["failed"] == 4 and summary["cases"] == 1
    twin = tmp_path / "twin"
    rec = convert(tmp_path / "good_image.nii.gz", src / "lab" / "good.nii.gz", twin, dataset="dcm",
                  case="good", modality="ct_00")
    assert load_json(out, "SAMed2D_v1.json") == rec.images
    for name in [*rec.images, *(m for ms in rec.images.values() for m in ms)]:
        assert (out / name).read_bytes() == (twin / name).read_bytes(), name
    assert digest_tree(src) == before


# ---- --dry-run: headers only ---------------------------------------------------------------------------


def install_decoding_spy(monkeypatch) -> list:
    """Makes SimpleITK's, pydicom's and nibabel's voxel decoding fail (and be recorded);
    header reads stay possible. Returns the list of recorded calls."""
    import pydicom.pixels
    from nibabel.arrayproxy import ArrayProxy

    calls = []

    def spy(what):
        def boom(*args, **kwargs):
            calls.append(what)
            raise AssertionError(f"--dry-run decoded voxels: {what}")
        return boom

    monkeypatch.setattr(sitk.ImageFileReader, "Execute", spy("ImageFileReader.Execute"))
    monkeypatch.setattr(sitk.ImageSeriesReader, "Execute", spy("ImageSeriesReader.Execute"))
    monkeypatch.setattr(sitk, "GetArrayFromImage", spy("GetArrayFromImage"))
    monkeypatch.setattr(sitk, "GetArrayViewFromImage", spy("GetArrayViewFromImage"))
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(spy("Dataset.pixel_array")))
    monkeypatch.setattr(pydicom.pixels, "pixel_array", spy("pydicom.pixels.pixel_array"))
    monkeypatch.setattr(ArrayProxy, "__array__", spy("ArrayProxy.__array__"))
    monkeypatch.setattr(ArrayProxy, "get_unscaled", spy("ArrayProxy.get_unscaled"))
    monkeypatch.setattr(ArrayProxy, "__getitem__", spy("ArrayProxy.__getitem__"))
    return calls


@pytest.fixture
def no_voxel_decoding(monkeypatch):
    """Fails the test if SimpleITK, pydicom or nibabel decode voxels (header reads are fine)."""
    return install_decoding_spy(monkeypatch)


def _case_lines(stdout: str) -> Dict[str, str]:
    """{case: what follows 'case: ' on its line} of a --dry-run listing."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\S+): (.*)$", line)
        if m and m.group(1) not in ("classes",):
            out[m.group(1)] = m.group(2)
    return out


def test_dry_run_reports_new_formats_from_headers(tmp_path, monkeypatch):
    """--dry-run lists each case of every new 3D format with the line its NIfTI twin gets
    (grid, channels, slices), and 2D DICOM / ITK cases with their size, decoding no voxel."""
    rng = np.random.default_rng(71)
    shape = (18, 20, 16)
    affine = oriented_affine((1, 0, 2), (0, 1, 0), (1.0, 1.2, 2.0))
    src = tmp_path / "src"
    for d in ("nii", "nii_lab", "mha", "mhd", "nrrd", "nhdr", "hdr", "dcm", "lab", "dx", "dx_lab", "two", "two_lab"):
        (src / d).mkdir(parents=True)
    for case in ("p1", "p2"):
        img = rng.integers(-1000, 1000, shape).astype(np.int16)
        lab = blob_labels(shape, 3, rng)
        save_nifti(src / "nii" / f"{case}.nii.gz", img, affine)
        save_nifti(src / "nii_lab" / f"{case}.nii.gz", lab, affine)
        for fmt in ("mha", "mhd", "nrrd", "nhdr"):
            write_itk(src / fmt / f"{case}.{fmt}", img, affine)
        write_itk(src / "lab" / f"{case}.nrrd", lab, affine)
        write_dicom_series(src / "dcm" / case, img, affine, series_uid=f"1.2.826.0.1.3680043.8.498.81{case[1]}")
        # Analyze: its own affine (zooms only), label and image alike
        write_analyze(src / "hdr" / f"{case}.hdr", img, np.diag([-1.0, 1.2, 2.0, 1.0]))
        write_analyze(src / "hdr" / f"{case}_label.hdr", lab, np.diag([-1.0, 1.2, 2.0, 1.0]))
        write_dicom_2d(src / "dx" / f"{case}.dcm", rng.integers(0, 4096, (40, 56)).astype(np.uint16),
                       photometric="MONOCHROME1", bits_stored=12, modality="CR")
        Image.fromarray(blob_labels_2d((40, 56), rng)).save(src / "dx_lab" / f"{case}.png")
        write_itk_2d(src / "two" / f"{case}.mha", rng.integers(0, 255, (40, 56, 3)).astype(np.uint8))
        write_itk_2d(src / "two_lab" / f"{case}.nrrd", blob_labels_2d((40, 56), rng))
    before = digest_tree(src)

    def dry(images, labels):
        code, stdout, stderr = run_cli("convert", "--images", images, "--labels", labels, "--modality", "CT",
                                       "--dataset", "dry", tmp_path / "out", "--dry-run")
        assert code == 0, stdout + stderr
        return _case_lines(stdout)

    twin = dry(f"{src}/nii/*.nii.gz", f"{src}/nii_lab/*.nii.gz")
    assert set(twin) == {"p1", "p2"} and "(20, 18, 16)" in twin["p1"], twin  # the RAS grid
    analyze_twin_src = tmp_path / "analyze_twin"
    (analyze_twin_src / "img").mkdir(parents=True)
    (analyze_twin_src / "lab").mkdir()
    for case in ("p1", "p2"):
        a = nib.load(str(src / "hdr" / f"{case}.hdr"))
        save_nifti(analyze_twin_src / "img" / f"{case}.nii.gz", np.asarray(a.dataobj.get_unscaled()), a.affine)
        save_nifti(analyze_twin_src / "lab" / f"{case}.nii.gz", np.zeros(shape, np.uint8), a.affine)
    analyze_twin = dry(f"{analyze_twin_src}/img/*.nii.gz", f"{analyze_twin_src}/lab/*.nii.gz")

    def assert_describes_as(lines, twin_lines, what):
        """Each case's line holds its NIfTI twin's description (grid, channels, slices)."""
        assert set(lines) == set(twin_lines), (what, lines)
        for case, text in lines.items():
            assert "ERROR" not in text and twin_lines[case].split("  ", 1)[1] in text, (what, text, twin_lines[case])

    calls = install_decoding_spy(monkeypatch)
    for fmt in ("mha", "mhd", "nrrd", "nhdr"):
        assert_describes_as(dry(f"{src}/{fmt}/*.{fmt}", f"{src}/lab/*.nrrd"), twin, fmt)
    assert_describes_as(dry(f"{src}/dcm/*", f"{src}/nii_lab/*.nii.gz"), twin, "DICOM series")
    assert_describes_as(dry(f"{src}/hdr/*[0-9].hdr", f"{src}/hdr/*_label.hdr"), analyze_twin, "Analyze")
    for images, labels in ((f"{src}/dx/*.dcm", f"{src}/dx_lab/*.png"), (f"{src}/two/*.mha", f"{src}/two_lab/*.nrrd")):
        lines = dry(images, labels)
        assert set(lines) == {"p1", "p2"}, lines
        for text in lines.values():
            assert "2D" in text and ("56x40" in text or "40x56" in text) and "ERROR" not in text, text
    assert calls == []
    monkeypatch.undo()
    assert digest_tree(src) == before


def test_dry_run_reports_bad_new_inputs(tmp_path, no_voxel_decoding):
    """--dry-run finds, from headers and file sizes alone, a .mhd whose .raw is short or
    missing and a DICOM folder with two series; exit 1, nothing written."""
    rng = np.random.default_rng(72)
    shape = (16, 18, 14)
    affine = oriented_affine((0, 1, 2), (0, 0, 0), (1.0, 1.0, 1.0))
    src = tmp_path / "src"
    (src / "img").mkdir(parents=True)
    (src / "lab").mkdir()
    for case in ("good", "m1", "m2"):
        write_itk(src / "img" / f"{case}.mhd", rng.integers(0, 900, shape).astype(np.int16), affine)
        write_itk(src / "lab" / f"{case}.nrrd", blob_labels(shape, 2, rng), affine)
    raw = src / "img" / "m1.raw"
    raw.write_bytes(raw.read_bytes()[:-100])
    (src / "img" / "m2.raw").unlink()
    out = tmp_path / "out"
    code, stdout, _ = run_cli("convert", "--images", f"{src}/img/*.mhd", "--labels", f"{src}/lab/*.nrrd",
                              "--modality", "CT", out, "--dry-run")
    lines = _case_lines(stdout)
    assert code == 1, stdout
    assert "ERROR" not in lines["good"]
    assert "ERROR" in lines["m1"] and ("m1.raw" in lines["m1"] or "m1.mhd" in lines["m1"]), lines["m1"]
    assert "ERROR" in lines["m2"] and ("m2.raw" in lines["m2"] or "m2.mhd" in lines["m2"]), lines["m2"]

    dsrc = tmp_path / "dsrc"
    both, _, label_a, _ = _two_series_folder(tmp_path / "two")
    (dsrc / "dcm").mkdir(parents=True)
    (dsrc / "lab").mkdir()
    shutil.copytree(both, dsrc / "dcm" / "two")
    shutil.copy(label_a, dsrc / "lab" / "two.nii.gz")
    code, stdout, _ = run_cli("convert", "--images", f"{dsrc}/dcm/*", "--labels", f"{dsrc}/lab/*.nii.gz",
                              "--modality", "CT", out, "--dry-run")
    lines = _case_lines(stdout)
    assert code == 1, stdout
    assert "ERROR" in lines["two"] and UID_A in lines["two"] and UID_B in lines["two"], lines
    assert no_voxel_decoding == []
    assert not out.exists()


def test_dicom_without_file_meta_is_read_and_objects_without_images_fail(tmp_path):
    """Older files lack the preamble and file meta: read all the same (pydicom's RTSTRUCT is
    one, and is named as what it is); an object without an image (RT Plan, SR) fails naming
    its SOP class; a file that is not DICOM fails as unreadable."""
    src = tmp_path / "in"
    src.mkdir()
    image = src / "image.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (512, 512)).astype(np.uint8)).save(image)
    rt = Path(shutil.copy(pydicom_test_file("rtstruct.dcm"), src / "contours.dcm"))
    _assert_fails_clean(image, rt, tmp_path / "out_rt", r"RTSTRUCT", [rt.name], modality="ct_00")
    label = src / "label.png"
    Image.fromarray(blob_labels_2d((512, 512), np.random.default_rng(6))).save(label)
    plan = Path(shutil.copy(pydicom_test_file("rtplan.dcm"), src / "plan.dcm"))
    _assert_fails_clean(plan, label, tmp_path / "out_plan", r"without an image.*RT Plan", [plan.name], modality="ct_00")
    garbage = src / "garbage.dcm"
    garbage.write_bytes(b"not a DICOM file " * 40)
    _assert_fails_clean(garbage, label, tmp_path / "out_garbage", r"not a readable DICOM", [garbage.name],
                        modality="ct_00")


def test_dicom_series_folder_skips_dicomdir_and_other_files(tmp_path):
    """A DICOMDIR and files GDCM cannot parse beside a series are skipped and counted (the dry
    run says how many); the series converts as the folder without them."""
    img, lab, aff = _series_volume(41, (20, 18, 8))
    clean = tmp_path / "in" / "clean"
    write_dicom_series(clean, img, aff, series_uid=UID_A)
    messy = tmp_path / "in" / "messy"
    write_dicom_series(messy, img, aff, series_uid=UID_A)
    shutil.copy(pydicom_test_file("dicomdirtests/DICOMDIR"), messy / "DICOMDIR")
    (messy / "notes.txt").write_text("scanned on a Tuesday")
    label = save_nifti(tmp_path / "in" / "label.nii.gz", lab, aff)
    rec_clean = convert(clean, label, tmp_path / "clean_out", modality="ct_00", class_names=CLASSES)
    rec_messy = convert(messy, label, tmp_path / "messy_out", modality="ct_00", class_names=CLASSES)
    assert_same_conversion(tmp_path / "clean_out", rec_clean, tmp_path / "messy_out", rec_messy)
    from samed2d_fast.inputs import read_header

    assert "2 other files skipped" in read_header(messy, 2**31).description


@pytest.mark.parametrize("name", ["mono1_rescale", "inverse_lut", "negative_slope_mono1", "mono2_inexact_slope"])
def test_dicom_file_2d_release_preset(name, tmp_path):
    """SPEC 7 and 8: the release preset normalises y = x * slope + intercept (inverted the
    same way) with ((y - min) / (max - min + 1e-8) * 255) truncated, written as RGB."""
    image = _write_dicom_kind(name, tmp_path / "in")
    ds = pydicom.dcmread(str(image))
    y = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    if (ds.PhotometricInterpretation == "MONOCHROME1") != (ds.get("PresentationLUTShape") == "INVERSE"):
        y = (y.min() + y.max()) - y
    grey = ((y - y.min()) / (y.max() - y.min() + 1e-8) * 255).astype(np.uint8)
    label = tmp_path / "in" / "label.png"
    Image.fromarray(blob_labels_2d(grey.shape, np.random.default_rng(9))).save(label)
    rec = convert(image, label, tmp_path / "out", modality="x_ray", normalization="slice", rgb=True)
    (name_png,) = rec.images
    np.testing.assert_array_equal(read_png(tmp_path / "out" / name_png), np.repeat(grey[:, :, None], 3, axis=2))


def test_cli_2d_folder_of_dicom_and_itk_images(tmp_path):
    """A 2D folder's images/ and masks/ may hold single DICOM files and 2D MetaImage/NRRD files
    (X-ray sets ship DICOM images with PNG masks): each converts as it does through the API."""
    rng = np.random.default_rng(51)
    root = tmp_path / "CXR"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    dcm = write_dicom_2d(root / "images" / "p1.dcm", rng.integers(0, 4096, (40, 56)).astype(np.uint16),
                         photometric="MONOCHROME1", bits_stored=12, modality="CR")
    Image.fromarray(blob_labels_2d((40, 56), rng)).save(root / "masks" / "p1.png")
    write_itk_2d(root / "images" / "p2.nrrd", rng.integers(0, 60000, (30, 20)).astype(np.uint16))
    Image.fromarray(blob_labels_2d((30, 20), rng)).save(root / "masks" / "p2.png")
    before = digest_tree(root)
    code, _, err = run_cli("convert", root, tmp_path / "out", "--modality", "x_ray", "--no-progress", "-j", "1")
    assert code == 0, err
    index = json.loads((tmp_path / "out" / "SAMed2D_v1.json").read_text())
    assert sorted(index) == ["images/x_ray--CXR--p1--2d_none.png", "images/x_ray--CXR--p2--2d_none.png"]
    got = read_png(tmp_path / "out" / "images" / "x_ray--CXR--p1--2d_none.png")
    np.testing.assert_array_equal(got, dicom_2d_reference(dcm))
    assert digest_tree(root) == before


def test_enhanced_multi_frame_dicom_is_a_volume(tmp_path):
    """SPEC 8: a multi-frame file with a position per frame (enhanced CT) is a volume, read as
    an ITK format: it converts as the NIfTI of the same array and affine."""
    rng = np.random.default_rng(61)
    zyx = rng.integers(-1000, 2000, (24, 20, 18)).astype(np.int16)
    src = tmp_path / "in"
    src.mkdir()
    enhanced, affine = write_enhanced_ct(src / "enhanced.dcm", zyx)
    labels = blob_labels((18, 20, 24), 3, rng)
    label = save_nifti(src / "label.nii.gz", labels, affine)
    twin = save_nifti(src / "twin.nii.gz", zyx.transpose(2, 1, 0), affine)
    before = digest_tree(src)
    rec = convert(enhanced, label, tmp_path / "out", modality="ct_00", class_names=CLASSES)
    rec_twin = convert(twin, label, tmp_path / "twin", modality="ct_00", class_names=CLASSES)
    assert rec.images and {name.split("--")[-1][0] for name in rec.images} == {"x", "y", "z"}
    assert_same_conversion(tmp_path / "twin", rec_twin, tmp_path / "out", rec)
    assert digest_tree(src) == before



def test_dicom_series_checks_follow_itk_and_refuse_odd_folders(tmp_path):
    """The header's affine of a tilted series is the one ITK reads (slice spacing from the
    first to the last position, the first slice's normal), so a label written from the series
    matches it; "1" and "1.0" are one slope; a FIFO in a series folder is refused by name."""
    import SimpleITK as sitk

    from samed2d_fast.inputs import read_header

    img, lab, aff = _series_volume(71, (12, 10, 5))
    folder = tmp_path / "tilt"
    files = write_dicom_series(folder, img, aff, series_uid=UID_A)
    for k, path in enumerate(files):  # a gantry tilt: each slice 0.5 mm further along y
        ds = pydicom.dcmread(str(path))
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + 0.5 * k, z]
        ds.RescaleSlope = "1.0" if k % 2 else "1"
        ds.RescaleIntercept = "0"
        ds.save_as(str(path))
    header = read_header(folder, 2**31)
    itk = sitk.ImageSeriesReader()
    itk.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    read = itk.Execute()
    from samed2d_fast.inputs.itk import affine_of

    np.testing.assert_allclose(header.affine, affine_of(read.GetOrigin(), read.GetSpacing(), read.GetDirection()),
                               atol=1e-6)
    label = tmp_path / "label.nrrd"
    labels = sitk.GetImageFromArray(lab.transpose(2, 1, 0).astype(np.uint8))
    labels.CopyInformation(read)
    sitk.WriteImage(labels, str(label))
    assert convert(folder, label, tmp_path / "out", modality="ct_00", class_names=CLASSES).images
    os.mkfifo(folder / "pipe")
    with pytest.raises(ValueError, match="pipe: not a regular file"):
        read_header(folder, 2**31)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow, on the truncated TIFF made here
def test_unreadable_2d_headers_fail_their_case_only(tmp_path):
    """A mask that is a truncated multi-page TIFF, and a DICOM image whose Rows tag is empty,
    fail their own cases in one line; the good case converts (before, the first stopped the
    whole run with a traceback while deciding whether masks are binary)."""
    rng = np.random.default_rng(81)
    root = tmp_path / "XR"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for stem in ("a_good", "b_tiff", "c_dicom"):
        Image.fromarray(rng.integers(0, 255, (32, 40)).astype(np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(blob_labels_2d((32, 40), rng)).save(root / "masks" / f"{stem}.png")
    (root / "masks" / "b_tiff.png").unlink()
    pages = [Image.fromarray(blob_labels_2d((32, 40), rng)) for _ in range(3)]
    pages[0].save(root / "masks" / "b_tiff.tif", save_all=True, append_images=pages[1:])
    data = (root / "masks" / "b_tiff.tif").read_bytes()
    (root / "masks" / "b_tiff.tif").write_bytes(data[: len(data) // 2])
    (root / "images" / "c_dicom.png").unlink()
    dcm = write_dicom_2d(root / "images" / "c_dicom.dcm", rng.integers(0, 4096, (32, 40)).astype(np.uint16),
                         modality="DX")
    edit_dicom(dcm, Rows=None)
    code, _, err = run_cli("convert", root, tmp_path / "out", "--modality", "x_ray", "--no-progress", "-j", "1")
    assert code == 1 and "Traceback" not in err, err
    failures = {f["case"]: f["error"] for f in json.loads((tmp_path / "out" / "failures.json").read_text())}
    assert set(failures) == {"XR--b_tiff", "XR--c_dicom"}, failures
    assert "b_tiff.tif" in failures["XR--b_tiff"] and "c_dicom.dcm" in failures["XR--c_dicom"]
    assert all("\n" not in e for e in failures.values())
    assert list(json.loads((tmp_path / "out" / "SAMed2D_v1.json").read_text())) == ["images/x_ray--XR--a_good--2d_none.png"]


@pytest.mark.parametrize("suffix, data_suffix", [(".mhd", ".raw"), (".nhdr", ".raw")])
def test_detached_data_file_missing_or_short_is_found_from_the_header(tmp_path, suffix, data_suffix):
    """A .mhd's or .nhdr's data file that is missing or short is refused by the checks the
    run and --dry-run share (file sizes, nothing decoded), naming the header and the file."""
    from samed2d_fast.inputs import case_headers

    arr, lab, aff = _series_volume(91, (10, 9, 8))
    header = write_itk(tmp_path / f"x{suffix}", arr, aff)
    data = tmp_path / f"x{data_suffix}"
    assert data.is_file(), sorted(p.name for p in tmp_path.iterdir())
    label = save_nifti(tmp_path / "label.nii.gz", lab, aff)
    spec = samed2d_fast.inputs.CaseSpec("D", "x", (str(header),), str(label), ("ct_00",))
    assert case_headers(spec)  # whole: fine
    data.write_bytes(data.read_bytes()[:-2])
    with pytest.raises(ValueError, match=rf"x{re.escape(suffix)}: its data file x{data_suffix} is truncated"):
        case_headers(spec)
    data.unlink()
    with pytest.raises(ValueError, match=rf"x{re.escape(suffix)}: its data file x{data_suffix}: file not found"):
        case_headers(spec)


def test_memory_planner_reads_two_slices_of_a_series(tmp_path, monkeypatch):
    """The memory planner needs a series' grid, which the first and last slices give; every
    slice's header is read by the checks the run and --dry-run make (check_data)."""
    from samed2d_fast.headers import decoded_bytes
    from samed2d_fast.inputs import CaseSpec, case_headers, dicom

    img, lab, aff = _series_volume(93, (12, 10, 9))
    write_dicom_series(tmp_path / "scan", img, aff, series_uid=UID_A)
    label = save_nifti(tmp_path / "label.nii.gz", lab, aff)
    spec = CaseSpec("D", "scan", (str(tmp_path / "scan"),), str(label), ("ct_00",))
    read = []
    real = dicom.read_information
    monkeypatch.setattr(dicom, "read_information", lambda path, what: read.append(path) or real(path, what))
    assert decoded_bytes(spec) == 12 * 10 * 9 * 2 + lab.nbytes
    assert len(read) == 2
    case_headers(spec)
    assert len(read) == 2 + 2 + 9
