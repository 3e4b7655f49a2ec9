"""Issue 10, the items about inputs: complex voxels (12), gzip bombs (14), FIFOs (15), the
bindings' dtypes (16), long file names (19) and data after the gzip stream (20).

A ``.nii.gz`` is decompressed only as far as its header says it reaches (vox_offset, at most
64 MiB, plus the voxel bytes); concatenated members are one stream and only NUL bytes may
follow the last one. Runs that could hang or exhaust memory go through a fresh process with
a timeout, which reports its own peak RSS. See docs/reliability.md.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from pathlib import Path
from typing import Tuple

import nibabel as nib
import numpy as np
import pytest
from isal.isal_zlib import crc32
from PIL import Image

from helpers import blob_labels, save_nifti, tree_bytes, write_nnunet_folder
from samed2d_fast import InputError, convert_case, output
from samed2d_fast.inputs import nifti as sio
from samed2d_fast.datasets import CaseSpec
from samed2d_fast.headers import PEAK_FACTOR, decoded_bytes

MiB = 2**20
GiB = 2**30
# A run that reads a bomb stays far below it (a Python process with numpy and nibabel
# takes about 100 MB); the bombs below hold 1 to 3 GiB.
PEAK_RSS_BOUND = 600 * 10**6
QUIET = ["--no-progress", "-j", "1"]


# ---- building files ---------------------------------------------------------------------------


def nifti_bytes(data: np.ndarray, *, slope=None, inter=None, klass=nib.Nifti1Image, big_endian=False) -> bytes:
    """An uncompressed single-file NIfTI of ``data``; ``slope``/``inter`` written as given."""
    img = klass(data, np.eye(4), klass.header_class(endianness=">" if big_endian else "<"))
    img.set_data_dtype(data.dtype)  # a header given to nibabel keeps its own (float32) dtype
    raw = bytearray(img.to_bytes())
    if slope is not None:
        assert klass is nib.Nifti1Image
        raw[112:120] = np.array([slope, inter or 0.0], dtype=img.header.endianness + "f4").tobytes()
    return bytes(raw)


def write_gz(path: Path, raw: bytes, *, members: int = 1, tail: bytes = b"") -> Path:
    """``raw`` gzip-compressed in ``members`` concatenated members (as pigz -i and bgzip
    write them), followed by ``tail``."""
    cuts = np.linspace(0, len(raw), members + 1).astype(int)
    path.write_bytes(b"".join(gzip.compress(raw[a:b], 1) for a, b in zip(cuts[:-1], cuts[1:])) + tail)
    return path


def write_gzip_bomb(path: Path, before: bytes, zeros: int, after: bytes = b"") -> Path:
    """One valid gzip member holding ``before``, ``zeros`` NUL bytes, then ``after``. A deflate
    block of a zero chunk, flushed with a dictionary reset, is the same bytes every time, so it
    is compressed once and written ``zeros // chunk`` times: the gigabytes never exist."""
    chunk = MiB
    whole, rest = divmod(zeros, chunk)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero_chunk, end = bytes(chunk), bytes(rest) + after
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header: deflate, no name, no mtime
        f.write(deflate.compress(before) + deflate.flush(zlib.Z_FULL_FLUSH))
        block = deflate.compress(zero_chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
        crc = crc32(before)
        for _ in range(whole):
            f.write(block)
            crc = crc32(zero_chunk, crc)
        f.write(deflate.compress(end) + deflate.flush())
        f.write(struct.pack("<II", crc32(end, crc), (len(before) + zeros + len(after)) % 2**32))
    return path


def extension_bomb_parts(data: np.ndarray, extension_bytes: int) -> Tuple[bytes, int, bytes]:
    """(header with an extension of ``extension_bytes`` announced, NUL bytes of its content,
    voxels): vox_offset points past the extension, as a genuine writer would set it."""
    plain = nifti_bytes(data)
    vox_offset = 352 + extension_bytes
    assert extension_bytes % 16 == 0 and float(np.float32(vox_offset)) == vox_offset
    header = bytearray(plain[:352])
    header[108:112] = struct.pack("<f", vox_offset)
    header[348:352] = b"\x01\x00\x00\x00"  # extensions follow
    ext_head = struct.pack("<ii", extension_bytes, 6)  # esize (with these 8 bytes), ecode 6: a comment
    return bytes(header) + ext_head, extension_bytes - 8, plain[352:]


def image_and_label(shape=(20, 18, 24), seed: int = 0):
    """An int16 image and a uint8 label map of the grid of write_nnunet_folder's cases."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 200, shape).astype(np.int16), blob_labels(shape, 3, rng)


def read_image(path: Path, scaled: bool = False) -> np.ndarray:
    return sio.image_volume(sio.load_nifti_header(path), path, scaled=scaled).data


def read_label(path: Path) -> np.ndarray:
    return sio.label_volume(sio.load_nifti_header(path), path).data


# ---- running ----------------------------------------------------------------------------------

# Linux keeps a process's peak RSS across exec, and this child is forked from pytest, which
# grows to hundreds of MB over a whole suite: so the child, small itself, runs the command in
# a grandchild and reports the peak of its children (the command and its workers) only.
_CHILD = """
import resource, subprocess, sys
status = subprocess.call([sys.executable, "-m", "samed2d_fast", *sys.argv[1:]])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK_RSS_KB {peak}", file=sys.stderr)
sys.exit(status)
"""


def run_in_child(*argv, timeout: float = 300) -> Tuple[int, str, str, int]:
    """(exit status, stdout, stderr, peak RSS in bytes of the process and its workers) of
    ``samed2d ARGV`` in a fresh process; a run that hangs is killed with its workers and fails."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"samed2d {' '.join(map(str, argv))} still ran after {timeout} s")
    lines = stderr.splitlines()
    assert lines and lines[-1].startswith("PEAK_RSS_KB "), stderr
    return proc.returncode, stdout, "\n".join(lines[:-1]), int(lines[-1].split()[1]) * 1024


def the_line_naming(text: str, culprit: Path) -> str:
    """The one line of ``text`` that names ``culprit``, checked to be a plain message."""
    lines = [line for line in text.splitlines() if str(culprit) in line]
    assert len(lines) == 1, text
    assert "Traceback" not in text, text
    return lines[0]


def assert_message(message: str, culprit: Path, cause: str) -> None:
    """One line naming the file, with the exact cause text."""
    assert "\n" not in message, message
    assert str(culprit) in message and cause in message, message


@pytest.fixture
def src(tmp_path) -> Path:
    """An nnU-Net folder of two cases: case00 stays good, the tests replace a file of case01."""
    return write_nnunet_folder(tmp_path / "SRC", n_cases=2, seed=3)


def case01(src: Path, which: str) -> Path:
    return src / ("imagesTr/case01_0000.nii.gz" if which == "image" else "labelsTr/case01.nii.gz")


def assert_case01_failed_alone(src: Path, out: Path, code: int, stderr: str, culprit: Path, cause: str) -> None:
    assert code == 1, stderr
    assert_message(the_line_naming(stderr, culprit), culprit, cause)
    images = json.loads((out / "SAMed2D_v1.json").read_text(encoding="utf-8"))
    assert images and all("--case00--" in name for name in images)


# ---- 14: gzip bombs -----------------------------------------------------------------------------


@pytest.mark.parametrize("which, zeros", [("image", 3 * GiB), ("label", GiB)])
def test_14_bomb_after_the_voxels_fails_without_inflating_it(src, tmp_path, which, zeros):
    """A 3 MB image (a 1 MB label) whose gzip stream holds 3 GiB (1 GiB) after the voxels:
    the case fails with one line, the run stays far below the bomb's size, the other case
    converts and no input byte changes."""
    image, label = image_and_label()
    culprit = write_gzip_bomb(case01(src, which), nifti_bytes(image if which == "image" else label), zeros)
    assert os.path.getsize(culprit) < (4 if which == "image" else 2) * MiB
    before = tree_bytes(src)
    out = tmp_path / "out"
    code, _, stderr, peak = run_in_child("convert", src, out, *QUIET)
    voxel_bytes = image.nbytes if which == "image" else label.nbytes
    assert_case01_failed_alone(src, out, code, stderr, culprit,
                               f"more data than the header describes: the gzip stream goes on past "
                               f"{352 + voxel_bytes} bytes (vox_offset 352 + {voxel_bytes} bytes of voxels)")
    assert peak < PEAK_RSS_BOUND, peak
    assert tree_bytes(src) == before


@pytest.mark.parametrize("command", ["convert", "dry-run"])
def test_14_bomb_in_a_header_extension_is_refused_from_vox_offset(src, tmp_path, command):
    """A header extension of 1 GiB of NUL bytes (vox_offset past it): refused from the header's
    first bytes, before nibabel reads the extension, in the run and in --dry-run alike."""
    image, _ = image_and_label()
    header, zeros, voxels = extension_bomb_parts(image, GiB + 1024 - 352)
    culprit = write_gzip_bomb(case01(src, "image"), header, zeros, voxels)
    before = tree_bytes(src)
    out = tmp_path / "out"
    extra = ["--dry-run"] if command == "dry-run" else []
    code, stdout, stderr, peak = run_in_child("convert", src, out, *QUIET, *extra)
    cause = "vox_offset 1073742848 is outside 0..67108864 bytes (64 MiB: the most a header with extensions may take)"
    if command == "dry-run":
        assert code == 1, stdout + stderr
        assert_message(the_line_naming(stdout, culprit), culprit, cause)
        assert not out.exists()
    else:
        assert_case01_failed_alone(src, out, code, stderr, culprit, cause)
    assert peak < PEAK_RSS_BOUND, peak
    assert tree_bytes(src) == before


def test_14_header_extension_within_64_mib_reads(tmp_path):
    image, _ = image_and_label()
    header, zeros, voxels = extension_bomb_parts(image, MiB)
    path = write_gzip_bomb(tmp_path / "ext.nii.gz", header, zeros, voxels)
    np.testing.assert_array_equal(read_image(path), image)
    assert len(sio.load_nifti_header(path).header.extensions) == 1


def test_14_extension_bomb_within_64_mib_header_limit_reads_no_further_than_vox_offset(tmp_path):
    """An extension that claims more bytes than vox_offset leaves for it: nibabel parses only
    the first vox_offset decompressed bytes, so it fails there instead of reading on."""
    image, _ = image_and_label()
    header, zeros, voxels = extension_bomb_parts(image, 1024)
    lying = bytearray(header)
    lying[352:356] = struct.pack("<i", 2**31 - 16)  # esize: 2 GiB, within a 1,376-byte header
    path = write_gzip_bomb(tmp_path / "lying.nii.gz", bytes(lying), 256 * MiB, voxels)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            sio.load_nifti_header(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_message(str(info.value), path, "not a readable NIfTI file (failed to read extension content)")
    assert peak < 4 * MiB, peak


def test_14_vox_offset_above_64_mib_refused_before_inflating(tmp_path):
    header = bytearray(nifti_bytes(np.zeros((2, 2, 2), np.uint8)))
    header[108:112] = struct.pack("<f", 2.0**27)
    path = write_gz(tmp_path / "far.nii.gz", bytes(header))
    with pytest.raises(InputError) as info:
        sio.load_nifti_header(path)
    assert_message(str(info.value), path, "vox_offset 134217728 is outside 0..67108864 bytes")


def test_14_concatenated_members_read_as_one_stream(tmp_path):
    """pigz -i and bgzip write many members; bgzip ends with an empty member (its EOF block)."""
    image, label = image_and_label(shape=(40, 36, 48))
    bgzf_eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    plain_image, plain_label = nifti_bytes(image), nifti_bytes(label)
    one = write_gz(tmp_path / "one.nii.gz", plain_image)
    many = write_gz(tmp_path / "many.nii.gz", plain_image, members=len(plain_image) // 65280 + 1, tail=bgzf_eof)
    label_many = write_gz(tmp_path / "label.nii.gz", plain_label, members=7, tail=bgzf_eof)
    np.testing.assert_array_equal(read_image(many), image)
    np.testing.assert_array_equal(read_image(many), read_image(one))
    np.testing.assert_array_equal(read_image(many, scaled=True), nib.load(str(one)).get_fdata())
    np.testing.assert_array_equal(read_label(label_many), label)


def test_14_more_data_in_a_later_member_is_refused(tmp_path):
    """A second member holding one byte more than the header describes, float32 as int16."""
    for dtype in (np.int16, np.float32):
        plain = nifti_bytes(np.arange(60, dtype=dtype).reshape(3, 4, 5))
        path = tmp_path / f"extra_{np.dtype(dtype).name}.nii.gz"
        path.write_bytes(gzip.compress(plain) + gzip.compress(b"\x00"))
        with pytest.raises(InputError) as info:
            read_image(path)
        size = len(plain)
        assert_message(str(info.value), path, f"the gzip stream goes on past {size} bytes "
                                              f"(vox_offset 352 + {size - 352} bytes of voxels)")


def test_14_peak_memory_of_a_read_stays_under_the_planners_figure(tmp_path):
    """The stored integers of a .nii.gz are held once (no compressed + decompressed + copy
    triple), and every path stays under PEAK_FACTOR x the planner's decoded bytes."""
    rng = np.random.default_rng(4)
    shape = (256, 256, 256)
    image = rng.integers(-1000, 1000, shape, dtype=np.int16)
    label = (rng.random(shape) < 0.01).astype(np.uint8)
    cases = {  # name: (file, a label, read as its stored integers)
        "int16": (nifti_bytes(image), False, True),
        "int16 negative slope": (nifti_bytes(image, slope=-0.5, inter=-3.0), False, False),
        "float32": (nifti_bytes(image.astype(np.float32)), False, False),
        "uint8 label": (nifti_bytes(label), True, True),
        "float32 label": (nifti_bytes(label.astype(np.float32)), True, False),  # rounded block by block
    }
    label_path = write_gz(tmp_path / "label.nii.gz", nifti_bytes(label))
    for name, (raw, is_label, stored) in cases.items():
        path = write_gz(tmp_path / f"{name.replace(' ', '_')}.nii.gz", raw)
        img = sio.load_nifti_header(path)
        spec = CaseSpec(dataset="ds", case="c", images=(str(label_path if is_label else path),),
                        label=str(path if is_label else label_path), modality=("ct_00",))
        planned = PEAK_FACTOR * decoded_bytes(spec)
        tracemalloc.start()
        try:
            data = (sio.label_volume(img, path) if is_label else sio.image_volume(img, path)).data
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < planned, (name, peak, planned)
        if stored:  # held once: the volume and a few MiB of chunks in flight
            assert peak < data.nbytes + 8 * MiB, (name, peak, data.nbytes)
        del data


# ---- 20: one rule for every dtype: scaling as get_fdata, data after the stream ------------------


@pytest.mark.parametrize("name, data, slope, inter", [
    ("int16 scaled", np.arange(-300, 300, dtype=np.int16).reshape(6, 10, 10), 0.37, -12.5),
    ("int16 plain", np.arange(-300, 300, dtype=np.int16).reshape(6, 10, 10), None, None),
    ("float32", np.linspace(-1e3, 1e3, 600, dtype=np.float32).reshape(6, 10, 10), None, None),
    ("uint8 scaled", np.arange(600, dtype=np.uint16).astype(np.uint8).reshape(6, 10, 10), 2.5, 1.0),
    ("uint8", np.arange(600, dtype=np.uint16).astype(np.uint8).reshape(6, 10, 10), None, None),
])
def test_20_scaled_values_are_bit_identical_to_get_fdata(tmp_path, name, data, slope, inter):
    plain = tmp_path / "v.nii"
    plain.write_bytes(nifti_bytes(data, slope=slope, inter=inter))
    packed = write_gz(tmp_path / "v.nii.gz", plain.read_bytes())
    expected = nib.load(str(plain)).get_fdata()
    assert expected.dtype == np.float64
    for path in (plain, packed):
        got = read_image(path, scaled=True)
        assert got.dtype == np.float64 and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes(), (name, path)
    assert nib.load(str(packed)).get_fdata().tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8])
def test_20_trailing_nul_bytes_are_accepted(tmp_path, dtype):
    data = np.arange(60).reshape(3, 4, 5).astype(dtype)
    path = write_gz(tmp_path / "padded.nii.gz", nifti_bytes(data), members=2, tail=bytes(5000))
    np.testing.assert_array_equal(read_image(path), data)


@pytest.mark.parametrize("which", ["image", "label"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_20_data_after_the_gzip_stream_is_refused_for_every_dtype(src, tmp_path, which, dtype):
    """An image stored as int16 or float32 (a label as int16 or float32): one rule, in
    convert_case and in a run."""
    image, label = image_and_label()
    data = (image if which == "image" else label).astype(dtype)
    culprit = write_gz(case01(src, which), nifti_bytes(data), tail=b"\x00\x00GARBAGE")
    cause = "data after the end of the gzip stream (only NUL padding may follow it)"
    other = case01(src, "label" if which == "image" else "image")
    image_path, label_path = (culprit, other) if which == "image" else (other, culprit)
    with pytest.raises(InputError) as info:
        convert_case(image_path, label_path, tmp_path / "direct", dataset="ds", modality="ct_00")
    assert_message(str(info.value), culprit, cause)
    before = tree_bytes(src)
    out = tmp_path / "out"
    code, _, stderr, _ = run_in_child("convert", src, out, *QUIET)
    assert_case01_failed_alone(src, out, code, stderr, culprit, cause)
    assert tree_bytes(src) == before


@pytest.mark.parametrize("damage, cause", [
    ("cut", "truncated: the decompressed data ends after "),
    ("short", "truncated: the decompressed data ends after 1352 of 2752 bytes"),
    ("crc", "corrupt gzip data ("),
    ("not_gzip", "not gzip-compressed, although its name ends in .gz"),
    ("not_nifti", "not a readable NIfTI file (no NIfTI-1 or NIfTI-2 header)"),
])
def test_20_damaged_streams_fail_with_one_line(tmp_path, damage, cause):
    plain = nifti_bytes(np.arange(600, dtype=np.float32).reshape(6, 10, 10))
    path = tmp_path / f"{damage}.nii.gz"
    packed = gzip.compress(plain)
    path.write_bytes({
        "cut": packed[: len(packed) * 2 // 3],
        "short": gzip.compress(plain[:1352]),
        "crc": packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:],
        "not_gzip": plain,
        "not_nifti": gzip.compress(b"just some text, no header at all" * 20),
    }[damage])
    with pytest.raises(InputError) as info:
        read_image(path)
    assert_message(str(info.value), path, cause)


@pytest.mark.parametrize("klass", [nib.Nifti1Image, nib.Nifti2Image])
@pytest.mark.parametrize("big_endian", [False, True])
def test_20_both_header_versions_and_byte_orders_read(tmp_path, klass, big_endian):
    data = np.arange(-30, 30, dtype=np.int16).reshape(3, 4, 5)
    path = write_gz(tmp_path / "v.nii.gz", nifti_bytes(data, klass=klass, big_endian=big_endian))
    assert type(sio.load_nifti_header(path)) is klass
    np.testing.assert_array_equal(read_image(path), data)
    np.testing.assert_array_equal(read_image(path, scaled=True), data.astype(np.float64))


# ---- 12: complex voxels -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["image", "label"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_12_complex_voxels_are_refused_from_the_header(tmp_path, monkeypatch, which, dtype):
    image, label = image_and_label()
    image_path = save_nifti(tmp_path / "img.nii.gz", image.astype(dtype) if which == "image" else image)
    label_path = save_nifti(tmp_path / "lab.nii.gz", label.astype(dtype) if which == "label" else label)
    culprit = image_path if which == "image" else label_path

    def decoded(*args):
        raise AssertionError("a voxel was decoded")

    monkeypatch.setattr(sio, "stored_array", decoded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as info:
            convert_case(image_path, label_path, tmp_path / "out", dataset="ds", modality="ct_00")
    assert_message(str(info.value), culprit,
                   f"voxel type {np.dtype(dtype).name} is not supported "
                   "(complex values; store their magnitude or real part as a real-valued image)")
    assert not list((tmp_path / "out").rglob("*.png"))


def test_12_complex_image_in_a_run_and_a_dry_run(src, tmp_path):
    image, _ = image_and_label()
    culprit = save_nifti(case01(src, "image"), image.astype(np.complex64))
    cause = "voxel type complex64 is not supported"
    code, stdout, stderr, _ = run_in_child("convert", src, tmp_path / "dry", *QUIET, "--dry-run")
    assert code == 1 and "Warning" not in stdout + stderr, stdout + stderr
    assert_message(the_line_naming(stdout, culprit), culprit, cause)
    out = tmp_path / "out"
    code, stdout, stderr, _ = run_in_child("convert", src, out, *QUIET)
    assert "Warning" not in stdout + stderr, stdout + stderr
    assert_case01_failed_alone(src, out, code, stderr, culprit, cause)


# ---- 15: FIFOs ---------------------------------------------------------------------------------


def folder_2d(root: Path) -> Path:
    """images/p.png and masks/p.png (grey, a binary mask), and a good q."""
    rng = np.random.default_rng(7)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for stem in ("p", "q"):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(root / "images" / f"{stem}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:20, 6:30] = 255
        Image.fromarray(mask).save(root / "masks" / f"{stem}.png")
    return root


@pytest.mark.parametrize("command", ["convert", "dry-run"])
@pytest.mark.parametrize("which", ["2d image", "2d mask", "nifti image"])
def test_15_fifo_input_fails_fast_with_one_line(tmp_path, which, command):
    """A FIFO in place of an input file: no reader opens it (that would block forever)."""
    if which == "nifti image":
        src = write_nnunet_folder(tmp_path / "SRC", n_cases=2, seed=3)
        culprit, extra = case01(src, "image"), []
    else:
        src = folder_2d(tmp_path / "SRC")
        culprit = src / ("images" if which == "2d image" else "masks") / "p.png"
        extra = ["--modality", "dermoscopy_00"]
    culprit.unlink()
    os.mkfifo(culprit)
    out = tmp_path / "out"
    dry = ["--dry-run"] if command == "dry-run" else []
    code, stdout, stderr, _ = run_in_child("convert", src, out, *QUIET, *extra, *dry, timeout=120)
    assert code == 1, stdout + stderr
    printed = stdout if command == "dry-run" else stderr
    assert_message(the_line_naming(printed, culprit), culprit, "not a regular file (a FIFO, socket or device)")


# ---- 16: the bindings accept only the dtypes they implement -------------------------------------

_BINDINGS_CHILD = """
import json, numpy as np
from samed2d_fast import _core
arrays = {
    "object": np.array([[[object(), "text", 1.5]] * 2] * 2, dtype=object),
    "complex64": np.ones((2, 2, 3), np.complex64),
    "complex128": np.ones((2, 2, 3), np.complex128),
    "structured": np.zeros((2, 2, 3), dtype=[("a", "<i4"), ("b", "<f4")]),
    "str": np.full((2, 2, 3), "ab"),
    "datetime": np.zeros((2, 2, 3), "M8[s]"),
}
calls = {
    "normalize": lambda a: _core.normalize(a),
    "display_slices": lambda a: _core.display_slices(a, 0, 0, 2),
    "slice_instances": lambda a: _core.slice_instances(a[0]),
    "encode_mask_png": lambda a: _core.encode_mask_png(a[0]),
}
outcome = {}
for call, fn in calls.items():
    for kind, array in arrays.items():
        try:
            fn(array)
            outcome[f"{call} {kind}"] = "accepted"
        except Exception as exc:
            outcome[f"{call} {kind}"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(outcome))
"""


def test_16_every_binding_refuses_dtypes_it_does_not_implement():
    """Object, complex, structured, string and datetime arrays: a clean TypeError from every
    binding (run in a child: copying object pointers used to crash the interpreter)."""
    result = subprocess.run([sys.executable, "-c", _BINDINGS_CHILD], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert len(outcome) == 24
    expected = {
        "normalize": r"normalize: unsupported dtype .* \(expected an integer or float16/32/64 array\)",
        "display_slices": r"display_slices: unsupported dtype .* \(expected a bool, integer or float16/32/64 array\)",
        "slice_instances": r"slice_instances: label slice must have an integer dtype, got ",
        "encode_mask_png": r"encode_mask_png: expected a bool or integer mask, got ",
    }
    for key, text in outcome.items():
        assert re.fullmatch("TypeError: " + expected[key.split()[0]] + ".*", text), (key, text)


def test_16_display_slices_still_copies_every_numeric_dtype():
    from samed2d_fast import _core

    volume = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    for dtype in (bool, np.int8, np.uint16, np.int32, np.uint64, np.float16, np.float32, ">f8"):
        v = volume.astype(dtype)
        got = _core.display_slices(v, 1, 0, 3)
        assert got.dtype == v.dtype
        for k in range(3):
            np.testing.assert_array_equal(got[k], v[:, k, :].T[::-1, ::-1])


# ---- 19: long names ----------------------------------------------------------------------------

TEMPORARY_NAME = re.compile(r"^\.[0-9a-f]{16}\.tmp$")


def test_19_final_names_up_to_255_bytes_are_written(tmp_path, monkeypatch):
    """A case name of 221 characters: its mask files are named with 255 bytes, the most a
    file system allows; temporary names are a fixed ``.<16 hex>.tmp``."""
    temporary = []
    replace = os.replace

    def recording_replace(source, target):
        temporary.append(os.path.basename(source))
        return replace(source, target)

    monkeypatch.setattr(output.os, "replace", recording_replace)
    src = folder_2d(tmp_path / "SRC")
    case = "c" * 221
    record = convert_case(src / "images" / "p.png", src / "masks" / "p.png", tmp_path / "out",
                          dataset="ds", modality="ct_00", case=case, binary=True)
    written = [name for image, masks in record.images.items() for name in (image, *masks)]
    lengths = sorted(len(os.path.basename(name).encode()) for name in written)
    assert lengths == [245, 255]
    for name in written:
        assert (tmp_path / "out" / name).is_file()
    assert len(temporary) == 2 and all(TEMPORARY_NAME.match(name) for name in temporary), temporary
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
