"""convert_case against the plain reference pipeline, file by file and pixel by pixel."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import samed2d_fast as sf
from helpers import (
    assert_output_equals_reference,
    blob_labels,
    oriented_affine,
    read_png,
    save_nifti,
)
from reference_pipeline import (
    convert_case_ref,
    declared_ref,
    json_differences,
    output_json_ref,
    read_volume_ref,
    union_field,
)


def _class_names(dataset_json):
    labels = json.loads(dataset_json.read_text())["labels"]
    return {int(v): k for k, v in labels.items()}


def convert_both(tmp_path, image, label, **kw):
    """convert_case and the reference on one case; the JSON files write_metadata makes of
    the record must be, to the byte, the ones the reference builds of its own conversion."""
    out = tmp_path / "out"
    record = sf.convert_case(image, label, out, **kw)
    ref = convert_case_ref(image, label, **kw)
    # Written beside the PNGs (no file there to rename), so the checks of the pixels still
    # see the names the case was written with.
    metadata = tmp_path / "metadata" / "out"
    metadata.mkdir(parents=True)
    sf.write_metadata(metadata, [record])
    declared = {kw["dataset"]: declared_ref(kw.get("class_names"), kw.get("class_ids"))}
    assert json_differences(metadata, output_json_ref(metadata.name, [ref], declared)) == []
    return out, record, ref


@pytest.mark.parametrize("name", ["totalsegmentator_ct", "totalsegmentator_mr"])
def test_real_volume_matches_reference(shared_data, tmp_path, name):
    root = shared_data / name
    kw = dict(dataset=name, modality="ct_00" if name.endswith("ct") else "mr_00", case="example",
              class_names=_class_names(root / "dataset.json"))
    out, record, ref = convert_both(tmp_path, root / "imagesTr/example_0000.nii.gz", root / "labelsTr/example.nii.gz", **kw)
    assert record.n_masks > 300
    assert_output_equals_reference(out, record, ref)


def test_mr_is_reoriented_from_lps(shared_data, tmp_path):
    """The shared MR is stored LPS: its saved z slices are the stored slices transposed."""
    root = shared_data / "totalsegmentator_mr"
    image = root / "imagesTr/example_0000.nii.gz"
    out = tmp_path / "out"
    sf.convert_case(image, root / "labelsTr/example.nii.gz", out, dataset="mr", modality="mr_00", keep_empty=True)
    stored = np.asanyarray(nib.load(str(image)).dataobj.get_unscaled())
    expected = sf.normalize(stored)[:, :, 7].T  # L->R and P->A flips cancel the display flips
    np.testing.assert_array_equal(read_png(out / "images/mr_00--mr--example_0000--z_0007.png"), expected)


ORIENTATIONS = [((0, 1, 2), (0, 0, 0)), ((2, 0, 1), (1, 0, 1)), ((1, 2, 0), (0, 1, 1)), ((0, 2, 1), (1, 1, 0))]


@pytest.mark.parametrize("perm,flips", ORIENTATIONS)
@pytest.mark.parametrize("consolidate", ["outer", "union", "off"])
def test_xyz_slices_any_orientation(tmp_path, perm, flips, consolidate):
    rng = np.random.default_rng(sum(perm) + 7 * sum(flips))
    shape = (14, 11, 9)
    image = rng.normal(0, 300, shape).astype(np.int16)
    label = blob_labels(shape, 4, rng)
    affine = oriented_affine(perm, flips, zooms=(0.8, 1.2, 2.0))
    img = save_nifti(tmp_path / "img.nii.gz", image, affine)
    lab = save_nifti(tmp_path / "lab.nii.gz", label, affine)
    names = {1: "kidney", 2: "tumour", 3: "cyst", 4: "kidney"}
    out, record, ref = convert_both(tmp_path, img, lab, dataset="synth", modality="ct_00",
                                    class_names=names, consolidate=consolidate)
    axes = {name.split("--")[-1][0] for name in ref["images"]}
    assert axes == {"x", "y", "z"}
    assert_output_equals_reference(out, record, ref)


@pytest.mark.parametrize(
    "dtype,slope,inter",
    [("int16", None, None), (">i2", None, None), ("uint8", None, None), ("float32", None, None),
     (">f8", None, None), ("int16", 0.5, -20.0), ("int16", -2.0, 5.0), ("int32", 3.0, 0.0),
     ("float32", 2.0, 1.0), ("uint16", 0.0, 0.0)],
)
def test_image_dtypes_and_scaling(tmp_path, dtype, slope, inter):
    rng = np.random.default_rng(3)
    shape = (10, 12, 8)
    data = (rng.random(shape) * 400 - (0 if dtype.startswith("u") else 200)).astype(dtype)
    if data.dtype.kind == "f":
        data.flat[5] = np.nan
        data.flat[9] = np.inf
    img = save_nifti(tmp_path / "img.nii", data, slope=slope, inter=inter, dtype=np.dtype(dtype))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 3, rng))
    out, record, ref = convert_both(tmp_path, img, lab, dataset="d", modality="ct_00", keep_empty=True)
    assert_output_equals_reference(out, record, ref)


def test_float_and_scaled_labels(tmp_path):
    rng = np.random.default_rng(5)
    shape = (9, 9, 9)
    lab = blob_labels(shape, 3, rng).astype(np.float32)
    lab += rng.uniform(-9e-4, 9e-4, shape).astype(np.float32)
    lab[0, 0, 0] = -1e-7
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    labp = save_nifti(tmp_path / "lab.nii.gz", lab)
    out, record, ref = convert_both(tmp_path, img, labp, dataset="d", modality="mr_t1")
    assert_output_equals_reference(out, record, ref)
    scaled = save_nifti(tmp_path / "lab2.nii", blob_labels(shape, 3, rng).astype(np.int16), slope=2.0, dtype=np.int16)
    out2 = tmp_path / "out2"
    record2 = sf.convert_case(img, scaled, out2, dataset="d", modality="mr_t1")
    assert record2.classes == {"label_2": "0002", "label_4": "0004", "label_6": "0006"}  # stored 1, 2, 3


def test_4d_channels_and_channel_files(tmp_path):
    rng = np.random.default_rng(11)
    shape = (12, 10, 8)
    channels = rng.normal(100, 30, shape + (3,)).astype(np.float32)
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 2, rng))
    four_d = save_nifti(tmp_path / "case.nii.gz", channels)
    # Distinct tags: no channel index on the case.
    out, record, ref = convert_both(tmp_path, four_d, lab, dataset="brain", modality=["mr_flair", "mr_t1", "mr_t2"])
    assert_output_equals_reference(out, record, ref)
    assert all("--case--" in name for name in record.images)
    # One tag for every channel: each channel gets its index; the split key does not.
    out2 = tmp_path / "out2"
    rec2 = sf.convert_case(four_d, lab, out2, dataset="brain", modality="mr_00")
    assert {n.split("--")[2] for n in rec2.images} == {"case_0000", "case_0001", "case_0002"}
    assert rec2.split_key == "brain--case"
    # nnU-Net channel files of one case are the same as one 4D file.
    files = [save_nifti(tmp_path / f"case_{c:04d}.nii.gz", channels[..., c]) for c in range(3)]
    out3 = tmp_path / "out3"
    rec3 = sf.convert_case(files, lab, out3, dataset="brain", case="case", modality=["mr_flair", "mr_t1", "mr_t2"])
    assert rec3.images == record.images
    for name in record.images:
        np.testing.assert_array_equal(read_png(out3 / name), read_png(out / name))


def test_class_ids_ignore_and_duplicate_names(tmp_path):
    rng = np.random.default_rng(2)
    shape = (12, 12, 6)
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 5, rng))
    names = {0: "background", 1: "organ", 2: "organ", 3: "ignore", 4: "lesion", 5: "cyst"}
    ids = {1: 10, 2: 11, 3: 99, 4: 12}
    out, record, ref = convert_both(tmp_path, img, lab, dataset="d", modality="ct_00",
                                    class_names=names, class_ids=ids, consolidate="union")
    assert_output_equals_reference(out, record, ref)
    assert "ignore" not in record.classes
    assert record.declared_max_id == 99
    assert record.declared == {"organ_1": "0010", "organ_2": "0011", "lesion": "0012", "cyst": union_field("cyst")}


def test_rgb_and_keep_empty(tmp_path):
    rng = np.random.default_rng(4)
    shape = (8, 8, 5)
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    label = np.zeros(shape, np.uint8)
    label[2:6, 2:6, 1] = 3
    lab = save_nifti(tmp_path / "lab.nii.gz", label)
    for kw in (dict(rgb=True), dict(keep_empty=True), dict(rgb=True, keep_empty=True)):
        out, record, ref = convert_both(tmp_path / str(sorted(kw)), img, lab, dataset="d", modality="ct_00", **kw)
        assert_output_equals_reference(out, record, ref)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_2d_colour_image_with_palette_labels(tmp_path, connectivity):
    rng = np.random.default_rng(6)
    rgb = rng.integers(20, 220, (40, 56, 3), dtype=np.uint8)
    labels = blob_labels((40, 56), 3, rng)
    Image.fromarray(rgb).save(tmp_path / "img.png")
    pal = Image.fromarray(labels, mode="L").convert("P")
    pal.save(tmp_path / "lab.png")
    out, record, ref = convert_both(tmp_path, tmp_path / "img.png", tmp_path / "lab.png",
                                    dataset="derm", modality="dermoscopy_00", connectivity=connectivity)
    assert_output_equals_reference(out, record, ref)
    assert all(name.endswith("--2d_none.png") for name in record.images)


@pytest.mark.parametrize("mode", ["L", "I;16", "F", "1", "LA", "RGBA", "CMYK", "P"])
def test_2d_image_modes(tmp_path, mode):
    rng = np.random.default_rng(8)
    base = Image.fromarray(rng.integers(0, 255, (30, 20, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 4000, (30, 20)).astype(np.uint16))
    elif mode == "F":
        im = Image.fromarray(rng.normal(size=(30, 20)).astype(np.float32))
    else:
        im = base.convert(mode)
    suffix = ".jpg" if mode == "CMYK" else (".tif" if mode in ("F", "I;16") else ".png")
    im.save(tmp_path / f"img{suffix}")
    mask = np.zeros((30, 20), np.uint8)
    mask[5:25, 4:16] = 255  # a 0/255 binary mask: label 1
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, record, ref = convert_both(tmp_path, tmp_path / f"img{suffix}", tmp_path / "mask.png",
                                    dataset="x", modality="x_ray", rgb=mode == "L")
    assert_output_equals_reference(out, record, ref)
    assert list(record.classes.values()) == ["0001"]


def test_2d_jpeg_label_is_binary(tmp_path):
    img = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    Image.fromarray(img).save(tmp_path / "img.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[10:40, 10:50] = 200
    Image.fromarray(mask).save(tmp_path / "mask.jpg", quality=95)
    out, record, ref = convert_both(tmp_path, tmp_path / "img.png", tmp_path / "mask.jpg", dataset="u", modality="ultrasound_00")
    assert_output_equals_reference(out, record, ref)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.tuples(*[st.integers(1, 9)] * 3),
    orientation=st.sampled_from(ORIENTATIONS),
    dtype=st.sampled_from(["int16", "uint8", "float32", ">i4", "float64"]),
    consolidate=st.sampled_from(["outer", "union", "off"]),
    connectivity=st.sampled_from([4, 8]),
    seed=st.integers(0, 2**16),
)
def test_random_volumes_match_reference(tmp_path_factory, shape, orientation, dtype, consolidate, connectivity, seed):
    tmp = tmp_path_factory.mktemp("case")
    rng = np.random.default_rng(seed)
    data = (rng.random(shape) * 1000 - 300).astype(dtype)
    affine = oriented_affine(*orientation)
    img = save_nifti(tmp / "img.nii.gz", data, affine)
    lab = save_nifti(tmp / "lab.nii.gz", blob_labels(shape, 3, rng), affine)
    out, record, ref = convert_both(tmp, img, lab, dataset="fuzz", modality="ct_00",
                                    consolidate=consolidate, connectivity=connectivity, keep_empty=bool(seed % 2))
    assert_output_equals_reference(out, record, ref)


def test_volume_reader_equals_canonical(shared_data):
    path = shared_data / "totalsegmentator_mr/labelsTr/example.nii.gz"
    ref, _ = read_volume_ref(path, "label")
    canonical = np.asanyarray(nib.as_closest_canonical(nib.load(str(path))).dataobj)
    np.testing.assert_array_equal(ref, canonical)


def test_threads_give_the_same_bytes(tmp_path):
    rng = np.random.default_rng(12)
    shape = (40, 36, 70)
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 5, rng))
    outs = []
    for threads in (1, 3):
        out = tmp_path / f"t{threads}"
        record = sf.convert_case(img, lab, out, dataset="d", modality="ct_00", consolidate="union", threads=threads)
        outs.append((out, record))
    (a, ra), (b, rb) = outs
    assert ra == rb and len(ra.images) > 64  # more slices than one window of threads
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_failure_leaves_nothing_behind_with_threads(tmp_path, monkeypatch):
    """A write that fails part-way (a full disk) removes every file the case wrote."""
    from samed2d_fast import output

    rng = np.random.default_rng(13)
    shape = (30, 30, 40)
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 3, rng))
    calls = {"n": 0}
    real = output.write_atomic

    def failing(path, data):
        calls["n"] += 1
        if calls["n"] == 50:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr("samed2d_fast.pipeline.write_atomic", failing)
    for threads in (1, 2):
        calls["n"] = 0
        out = tmp_path / f"out{threads}"
        with pytest.raises(OSError, match="No space left"):
            sf.convert_case(img, lab, out, dataset="d", modality="ct_00", threads=threads)
        assert not [p for p in out.rglob("*") if p.is_file()]


def test_threads_read_the_label_beside_the_images_with_the_same_errors(tmp_path):
    """threads > 1 decodes a label map while the images are read: a run fails with the
    same message as with one thread, the image's error first when both files are bad."""
    rng = np.random.default_rng(14)
    shape = (20, 18, 16)
    img = save_nifti(tmp_path / "img.nii.gz", rng.normal(size=shape).astype(np.float32))
    lab = save_nifti(tmp_path / "lab.nii.gz", blob_labels(shape, 3, rng))
    other_grid = save_nifti(tmp_path / "grid.nii.gz", blob_labels((20, 18, 15), 3, rng))
    negative = save_nifti(tmp_path / "neg.nii.gz", -blob_labels(shape, 3, rng).astype(np.int16))
    corrupt = {}
    for name, source in (("img", img), ("lab", lab)):
        data = bytearray(source.read_bytes())
        data[-40:-8] = bytes(32)  # the stream's end, past the header: the voxels' decoding fails
        corrupt[name] = tmp_path / f"corrupt_{name}.nii.gz"
        corrupt[name].write_bytes(bytes(data))

    def message(image, label, threads):
        with pytest.raises(Exception) as caught:
            sf.convert_case(image, label, tmp_path / f"out{threads}", dataset="d", modality="ct_00", threads=threads)
        return str(caught.value)

    for image, label, says in ((img, corrupt["lab"], "corrupt_lab"), (img, other_grid, "grid"),
                               (img, negative, "neg"), (corrupt["img"], corrupt["lab"], "corrupt_img")):
        first = message(image, label, 1)
        assert says in first
        assert message(image, label, 2) == first
    record = sf.convert_case(img, lab, tmp_path / "ok", dataset="d", modality="ct_00", threads=2)
    assert record.images


@pytest.mark.parametrize("variant", ["multi_member_gzip", "header_extension", "big_endian"])
def test_gzip_read_path_equals_nibabel(tmp_path, variant):
    """.nii.gz volumes are decompressed in one call and viewed in place: same voxels as nibabel."""
    import gzip

    from samed2d_fast.inputs import nifti as sio

    rng = np.random.default_rng(21)
    data = rng.integers(-500, 1500, (13, 11, 7)).astype(">i2" if variant == "big_endian" else np.int16)
    img = nib.Nifti1Image(data, np.eye(4))
    if variant == "header_extension":
        img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"made by a test" * 5))
    plain = tmp_path / "v.nii"
    nib.save(img, str(plain))
    raw = plain.read_bytes()
    path = tmp_path / "v.nii.gz"
    if variant == "multi_member_gzip":  # as bgzip and pigz write them
        path.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))
    else:
        path.write_bytes(gzip.compress(raw))
    loaded = nib.load(str(path))
    got = sio.image_volume(loaded, path).data
    np.testing.assert_array_equal(got, np.asanyarray(nib.load(str(plain)).dataobj.get_unscaled()))
    truncated = tmp_path / "t.nii.gz"
    truncated.write_bytes(gzip.compress(raw)[: len(raw) // 3])
    with pytest.raises(sio.InputError, match="t.nii.gz"):
        sio.image_volume(nib.load(str(truncated)), truncated)
