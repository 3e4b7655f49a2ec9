"""The label-set painting kernel (``_core.paint_mask``, SPEC section 8) against a plain
numpy reference, on random masks of every integer dtype and odd shapes, and the label-set
painter that uses it against painting in numpy."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from samed2d_fast import _core
from samed2d_fast.inputs import InputError
from samed2d_fast.inputs.label_sets import paint

EXAMPLES = int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200"))
prop = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MASK_CODES = ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8")
LABEL_CODES = ("u1", "u2", "u4")


def paint_mask_ref(mask: np.ndarray, labels: np.ndarray, value: int):
    """labels[mask != 0] = value; (overlaps, painted, min, max) as the kernel returns them."""
    inside = mask != 0
    overlaps = int(np.count_nonzero(inside & (labels != 0) & (labels != value)))
    labels[inside] = value
    lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
    return overlaps, int(np.count_nonzero(inside)), lo, hi


@st.composite
def mask_and_labels(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=40))
    mask_dtype = np.dtype(draw(st.sampled_from(MASK_CODES)))
    label_dtype = np.dtype(draw(st.sampled_from(LABEL_CODES)))
    sparse = draw(st.booleans())  # mostly zeros, as class files are: the skipped blocks
    info = np.iinfo(mask_dtype)
    values = st.integers(int(info.min), int(info.max))
    mask = draw(arrays(mask_dtype, shape, elements=st.one_of(st.just(0), values) if not sparse else
                       st.sampled_from([0] * 30 + [1, int(info.max), int(info.min)])))
    labels = draw(arrays(label_dtype, shape, elements=st.integers(0, 3)))
    value = draw(st.integers(1, int(np.iinfo(label_dtype).max)))
    order = draw(st.sampled_from("CF"))
    return np.asarray(mask, order=order), np.asarray(labels, order=order), value


@prop
@given(mask_and_labels())
def test_paint_mask_equals_reference(case):
    mask, labels, value = case
    expected = labels.copy()
    want = paint_mask_ref(mask, expected, value)
    got = _core.paint_mask(mask, labels, value)
    assert tuple(got) == want
    np.testing.assert_array_equal(labels, expected)


def test_paint_mask_long_runs_of_zeros_and_a_voxel_at_each_block_edge():
    n = 256 * 5 + 3  # blocks of 256 values, and a tail
    for i in (0, 255, 256, 511, n - 1):
        mask = np.zeros(n, np.int16)
        mask[i] = -7
        labels = np.zeros(n, np.uint8)
        assert _core.paint_mask(mask, labels, 9) == (0, 1, -7, 0)
        assert labels[i] == 9 and np.count_nonzero(labels) == 1


@pytest.mark.parametrize("problem", ["shape", "layout", "strided", "big_endian", "float", "readonly", "value",
                                     "unaligned", "labels_not_an_array"])
def test_paint_mask_refuses_what_it_cannot_paint(problem):
    mask, labels = np.ones((4, 5), np.uint8), np.zeros((4, 5), np.uint8)
    value = 3
    if problem == "shape":
        labels = np.zeros((5, 4), np.uint8)
    elif problem == "layout":
        labels = np.zeros((4, 5), np.uint8, order="F")
    elif problem == "strided":
        mask = np.ones((4, 10), np.uint8)[:, ::2]
    elif problem == "big_endian":
        mask = mask.astype(">u2")
    elif problem == "float":
        mask = mask.astype(np.float32)
    elif problem == "readonly":
        labels.setflags(write=False)
    elif problem == "value":
        value = 256
    elif problem == "unaligned":
        mask = np.frombuffer(np.ones(41, np.uint8).tobytes(), dtype=np.uint16, offset=1, count=20).reshape(4, 5)
        labels = np.zeros((4, 5), np.uint8)
    elif problem == "labels_not_an_array":
        labels = labels.tolist()
    with pytest.raises((ValueError, TypeError)):
        _core.paint_mask(mask, labels, value)


@prop
@given(st.data())
def test_paint_equals_numpy_painting_in_any_orientation(data):
    """The painter: files of one class united, in their own stored orientation (flips and
    transposes of the first file's), floats rounded; the map in RAS+ equals painting the
    RAS+ masks in numpy, and an overlap is reported exactly when two classes share a voxel."""
    from nibabel import orientations

    shape = data.draw(array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6))
    n_files = data.draw(st.integers(1, 5))
    names = [data.draw(st.sampled_from(["a", "b", "c"])) for _ in range(n_files)]
    files = sorted(zip(names, [f"f{i}" for i in range(n_files)]))
    values = {"a": 1, "b": 7, "c": 300}
    ras_masks, stored = {}, {}
    for _, path in files:
        ras = data.draw(arrays(np.bool_, shape))
        ras_masks[path] = ras
        perm = data.draw(st.permutations([0, 1, 2]))
        flips = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
        ornt = np.array([[perm[k], -1 if flips[k] else 1] for k in range(3)], dtype=float)
        # the stored array whose apply_orientation(ornt) is the RAS+ mask
        back = orientations.ornt_transform([[0, 1], [1, 1], [2, 1]], ornt)
        dtype = data.draw(st.sampled_from(["u1", "i2", "f4", ">i2"]))
        stored[path] = (np.ascontiguousarray(orientations.apply_orientation(ras, back)).astype(dtype), ornt)
    labels, overlapping = paint(files, values, lambda p: stored[p], threads=data.draw(st.sampled_from([1, 2])))
    expected = np.zeros(shape, np.uint16)
    by_class = {}
    for name, path in files:
        by_class[name] = by_class.get(name, np.zeros(shape, bool)) | ras_masks[path]
    for name, mask in by_class.items():
        expected[mask] = values[name]
    shared = sum(m.astype(int) for m in by_class.values())
    assert overlapping == bool((shared >= 2).any())
    if not overlapping:
        np.testing.assert_array_equal(labels, expected)


def test_paint_applies_the_label_rules():
    bad = np.array([[[0, -1]]], np.int16)
    with pytest.raises(InputError, match="f0: negative label value -1"):
        paint([("a", "f0")], {"a": 1}, lambda p: (bad, None), threads=1)
    half = np.array([[[0, 0.5]]], np.float32)
    with pytest.raises(InputError, match="f0: label value 0.5 is not an integer"):
        paint([("a", "f0")], {"a": 1}, lambda p: (half, None), threads=1)


@settings(max_examples=max(20, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(["u1", "i2", "u2", "i4", "u8"]), count=st.integers(0, 300_000),
       offset=st.integers(0, 700), members=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_gunzip_values_are_the_values_after_the_header(tmp_path_factory, dtype, count, offset, members, seed):
    """The values a label set's file is painted from, piece by piece: after ``offset`` header
    bytes, in one or several gzip members, values cut by the end of an inflated piece
    included; one value more or less than the stream holds is an error naming the file."""
    import gzip

    from samed2d_fast.inputs.gunzip import gunzip_values

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 3, count).astype(dtype)  # compressible, as masks are
    raw = rng.integers(0, 256, offset, dtype=np.uint8).tobytes() + values.tobytes()
    cuts = sorted(rng.integers(0, len(raw) + 1, members - 1))
    parts = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
    path = tmp_path_factory.mktemp("gz") / "x.nii.gz"
    path.write_bytes(b"".join(gzip.compress(part, compresslevel=1) for part in parts))
    pieces = list(gunzip_values(path, offset, np.dtype(dtype), count))
    got = np.concatenate(pieces) if pieces else np.empty(0, dtype)
    np.testing.assert_array_equal(got, values)
    with pytest.raises(InputError, match="x.nii.gz: truncated"):
        list(gunzip_values(path, offset, np.dtype(dtype), count + 1))
    if count:
        with pytest.raises(InputError, match="x.nii.gz: more data than the header describes"):
            list(gunzip_values(path, offset, np.dtype(dtype), count - 1))


def test_streamed_painting_equals_whole_file_painting(tmp_path, monkeypatch):
    """A label set of .nii.gz files painted piece by piece (one thread) gives the map that
    whole files give (two threads), with files of several dtypes, a big-endian one and one
    stored in another orientation (those two read whole)."""
    import nibabel as nib

    from samed2d_fast.inputs import CaseSpec, case_headers, read_case

    rng = np.random.default_rng(8)
    shape = (70, 60, 50)
    truth = np.zeros(shape, np.uint16)
    for value in range(1, 7):
        lo = rng.integers(0, 40, 3)
        truth[lo[0]:lo[0] + 25, lo[1]:lo[1] + 15, lo[2]:lo[2] + 10] = value
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(rng.integers(0, 100, shape).astype(np.int16), affine), tmp_path / "ct.nii.gz")
    label = {}
    for value, dtype in zip(range(1, 7), ["u1", "i2", "u4", ">i2", "i8", "u1"]):
        mask = (truth == value).astype(dtype)
        if value == 6:  # stored flipped along x: another orientation, the same grid
            img = nib.Nifti1Image(mask[::-1].copy(), affine @ np.array([[-1, 0, 0, 69], [0, 1, 0, 0],
                                                                         [0, 0, 1, 0], [0, 0, 0, 1.0]]))
        else:
            img = nib.Nifti1Image(mask, affine, dtype=np.dtype(dtype))
        nib.save(img, tmp_path / f"c{value}.nii.gz")
        label[f"c{value}"] = (str(tmp_path / f"c{value}.nii.gz"),)
    spec = CaseSpec("D", "ct", (str(tmp_path / "ct.nii.gz"),), label, ("ct_00",),
                    {v: f"c{v}" for v in range(1, 7)})
    headers = case_headers(spec)
    from samed2d_fast.inputs import label_sets

    streamed = []
    whole_pieces = label_sets._Canvas.paint_pieces
    monkeypatch.setattr(label_sets._Canvas, "paint_pieces",
                        lambda self, pieces, value, path: streamed.append(value) or whole_pieces(self, pieces, value, path))
    one = read_case(spec, headers, threads=1)
    assert streamed == [2, 3, 4, 5]  # the first file makes the map; the flipped one is read whole
    two = read_case(spec, headers, threads=2)
    assert streamed == [2, 3, 4, 5]
    np.testing.assert_array_equal(one.label, truth)
    np.testing.assert_array_equal(two.label, truth)
