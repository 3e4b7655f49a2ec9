"""Benchmark inputs, made in code (nothing is downloaded).

The CT case is the shared TotalSegmentator example (122x101x30, 41 classes) resampled
to the benchmark grid when ../shared is present, else the package's synthetic phantom
at that size. Both give an int16 CT, a uint8 label map and {label value: class name}.

For the input readers: the same case in every container (``write_containers``), and a
TotalSegmentator-like label set, one gzipped NIfTI mask per class (``label_set_case``,
``write_label_set``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

FULL_SHAPE = (512, 512, 300)
QUICK_SHAPE = (128, 128, 40)
# The whole-body case beside the benchmark case; in --quick, the quick case's grid 3x as long.
WHOLE_BODY_SHAPE = (512, 512, 1000)
WHOLE_BODY_QUICK_SHAPE = (128, 128, 120)
# The input readers' benchmarks in --quick: big enough that per-file costs are not all
# that is measured (FULL_SHAPE otherwise).
READERS_QUICK_SHAPE = (256, 256, 100)
# Containers of the reading benchmark: name -> (image file, label file); "dicom" is a
# DICOM series folder with the .nii.gz label.
CONTAINERS = {
    "nii.gz": ("image.nii.gz", "label.nii.gz"),
    "nii": ("image.nii", "label.nii"),
    "mha": ("image.mha", "label.mha"),
    "nrrd": ("image.nrrd", "label.nrrd"),
    "mha (compressed)": ("image_gz.mha", "label_gz.mha"),
    "dicom series": ("series", "label.nii.gz"),
}
TS_CLASSES = 117  # TotalSegmentator v2's classes, one file each
TS_CASE = "totalsegmentator_ct"


@dataclass
class Case:
    image: np.ndarray          # int16, RAS+ (x, y, z)
    labels: np.ndarray         # uint8, same grid
    affine: np.ndarray
    class_names: dict
    source: str                # where the data came from, for the report

    @property
    def decoded_bytes(self) -> int:
        return self.image.nbytes + self.labels.nbytes


def default_workdir() -> Path:
    """tmpfs where there is one: on a shared VM disk, file creation times vary 5x between
    runs and would drown the converter's own time (compare.py --workdir times a disk)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def shared_data() -> Path | None:
    env = os.environ.get("SAMED2D_SHARED")
    root = Path(env) / "data" if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root if (root / TS_CASE).is_dir() else None


def _class_names(dataset_json: Path) -> dict:
    labels = json.loads(dataset_json.read_text())["labels"]  # nnU-Net v2: {name: value}
    return {int(v): name for name, v in labels.items() if int(v) != 0}


def _source_case() -> Case:
    """The CT case on its own grid: the shared TotalSegmentator example, else the phantom."""
    root = shared_data()
    if root is None:
        from samed2d_fast.phantom import make_ct_phantom

        ct, labels, names = make_ct_phantom(shape=QUICK_SHAPE, seed=0)
        return Case(ct, labels, np.eye(4), names, "phantom")
    folder = root / TS_CASE
    image = nib.load(folder / "imagesTr" / "example_0000.nii.gz")
    label = nib.load(folder / "labelsTr" / "example.nii.gz")
    return Case(np.asanyarray(image.dataobj).astype(np.int16), np.asanyarray(label.dataobj).astype(np.uint8),
                image.affine, _class_names(folder / "dataset.json"), TS_CASE)


def _resampled(case: Case, shape, class_names: dict, source: str) -> Case:
    factors = np.divide(shape, case.image.shape)
    # Linear for intensities; nearest for labels so that no new label values appear.
    ct = ndimage.zoom(case.image, factors, order=1)
    labels = ndimage.zoom(case.labels, factors, order=0)
    affine = case.affine @ np.diag([*(1 / factors), 1.0])
    return Case(ct, labels, affine, class_names, f"{source} resampled to {shape}")


def make_ct_case(shape=FULL_SHAPE) -> Case:
    if shared_data() is None:  # the phantom is made at the size asked, not resampled
        from samed2d_fast.phantom import make_ct_phantom

        ct, labels, names = make_ct_phantom(shape=shape, seed=0)
        return Case(ct, labels, np.eye(4), names, f"phantom {shape}")
    source = _source_case()
    return _resampled(source, shape, source.class_names, source.source)


def whole_body_case(shape=WHOLE_BODY_SHAPE, n: int = TS_CLASSES) -> Case:
    """A whole-body-like case with ``n`` classes: the source CT tiled along z, each tile's
    classes given new values so that values 1..n all occur, then resampled to ``shape``."""
    source = _source_case()
    present = [int(v) for v in np.unique(source.labels) if v != 0]
    tiles = -(-n // len(present))
    images, labels = [], []
    for tile in range(tiles):
        lut = np.zeros(256, np.uint8)
        for i, value in enumerate(present):
            lut[value] = (tile * len(present) + i) % n + 1
        images.append(source.image)
        labels.append(lut[source.labels])
    tiled = Case(np.concatenate(images, axis=2), np.concatenate(labels, axis=2), source.affine, {}, "")
    return _resampled(tiled, shape, ts_class_names(n),
                      f"{source.source} tiled {tiles}x along z, classes relabelled to {n} values,")


def write_nifti_case(case: Case, folder: Path) -> tuple[Path, Path]:
    """The case as nnU-Net-style .nii.gz files, as users have them."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path, label_path = folder / "bench_0000.nii.gz", folder / "bench.nii.gz"
    nib.save(nib.Nifti1Image(case.image, case.affine), image_path)
    nib.save(nib.Nifti1Image(case.labels, case.affine), label_path)
    return image_path, label_path


def label_slices(labels: np.ndarray, step: int = 5) -> list[np.ndarray]:
    """Every ``step``-th z slice in display orientation (SPEC 3), contiguous."""
    return [np.ascontiguousarray(labels[:, :, k].T[::-1, ::-1]) for k in range(0, labels.shape[2], step)]


def uint16_volume(image: np.ndarray) -> np.ndarray:
    """The CT as an unsigned volume (stored + 1024, as some scanners write it)."""
    return (image.astype(np.int32) + 1024).clip(0, 65535).astype(np.uint16)


def float_volume(image: np.ndarray) -> np.ndarray:
    """A float32 volume of the same grid with a few NaN/Inf (normalisation maps them to 0)."""
    out = image.astype(np.float32) * np.float32(0.37) + np.float32(0.125)
    out.flat[:: 100_003] = np.nan
    out.flat[7:: 1_000_003] = np.inf
    return out


# ---- the same case in every container -----------------------------------------------------


def _tests_on_path() -> None:
    """tests/formats_helpers writes the ITK and DICOM twins the format tests prove equal."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


def write_containers(case: Case, folder: Path, nifti: tuple | None = None,
                     containers=tuple(CONTAINERS)) -> dict:
    """``case`` in each of ``containers`` (names of CONTAINERS): {name: (image, label)}.
    ``nifti``: the case's .nii.gz files if already written (else written here). ITK files
    and the DICOM series are written as tests/formats_helpers writes them (SimpleITK)."""
    _tests_on_path()
    from formats_helpers import write_dicom_series, write_itk

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in containers:
        image, label = (folder / f for f in CONTAINERS[name])
        if name == "nii.gz" and nifti is not None:
            image, label = map(Path, nifti)
        elif name in ("nii.gz", "nii"):
            nib.save(nib.Nifti1Image(case.image, case.affine), image)
            nib.save(nib.Nifti1Image(case.labels, case.affine), label)
        elif name == "dicom series":
            write_dicom_series(image, case.image, case.affine, series_uid="1.2.826.0.1.3680043.8.498.77.1")
            label = out["nii.gz"][1] if "nii.gz" in out else Path(nifti[1]) if nifti else None
            if label is None:
                label = folder / "label.nii.gz"
                nib.save(nib.Nifti1Image(case.labels, case.affine), label)
        else:
            compress = "compressed" in name
            write_itk(image, case.image, case.affine, compress=compress)
            write_itk(label, case.labels, case.affine, compress=compress)
        out[name] = (image, label)
    return out


# ---- a TotalSegmentator-like label set ------------------------------------------------------


def ts_class_names(n: int = TS_CLASSES) -> dict:
    """{value: name} of ``n`` classes: TotalSegmentator's names where ../shared has them."""
    root = shared_data()
    names = _class_names(root / TS_CASE / "dataset.json") if root is not None else {}
    return {v: names.get(v, f"class_{v:03d}") for v in range(1, n + 1)}


def label_set_case(case: Case, n: int = TS_CLASSES, blobs: int = 3, seed: int = 0) -> Case:
    """``case`` with ``n`` classes: its own (real organs, large and small) keep their masks;
    every class it lacks gets ``blobs`` small balls in background voxels. Nothing overlaps,
    so the class files paint into this label map."""
    rng = np.random.default_rng(seed)
    labels = case.labels.copy()
    radius = max(2, round(0.02 * min(labels.shape)))
    r2 = np.arange(-radius, radius + 1) ** 2
    ball = r2[:, None, None] + r2[None, :, None] + r2[None, None, :] <= radius ** 2
    present = set(np.unique(labels).tolist())
    for value in range(1, n + 1):
        if value in present:
            continue
        for _ in range(blobs):
            corner = [int(rng.integers(0, s - 2 * radius - 1)) for s in labels.shape]
            box = labels[tuple(slice(c, c + 2 * radius + 1) for c in corner)]
            box[ball & (box == 0)] = value
    return Case(case.image, labels, case.affine, ts_class_names(n),
                f"{case.source}, {n} classes ({len(present) - 1} real, the others {blobs} balls each)")


def _write_mask(path: Path, mask: np.ndarray, affine: np.ndarray) -> None:
    """A uint8 NIfTI gzipped as nib.save writes it (zlib level 1), 10x faster than nib.save."""
    data = nib.Nifti1Image(mask, affine).to_bytes()
    gz = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    path.write_bytes(gz.compress(data) + gz.flush())


def write_label_set(case: Case, folder: Path, threads: int = 2) -> dict:
    """One ``<class>.nii.gz`` per class of ``case.class_names`` (TotalSegmentator's
    ``segmentations/``), uint8 0/1: {class name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.nii.gz" for name in case.class_names.values()}

    def write(item):
        value, name = item
        _write_mask(paths[name], (case.labels == value).view(np.uint8), case.affine)

    with ThreadPoolExecutor(threads) as pool:  # zlib lets go of the GIL
        list(pool.map(write, case.class_names.items()))
    return paths


def ras(array: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``array`` in RAS+ (as read_case gives volumes)."""
    from nibabel import orientations

    return orientations.apply_orientation(array, orientations.io_orientation(affine))


# ---- reading them as the run does --------------------------------------------------------


def case_spec(image, label, class_names: dict):
    """The CaseSpec of one benchmark case; ``label`` a file or {class name: file}."""
    from samed2d_fast.inputs import CaseSpec, label_set

    label = label_set(label) if isinstance(label, dict) else str(label)
    return CaseSpec("bench", "bench", (str(image),), label, ("ct_00",), dict(class_names))


def read_one_case(spec):
    """A case as the run reads it: every header (case_headers), then read_case; then one
    pass over each array (as normalisation makes first), so that memory-mapped or lazily
    viewed voxels are really read in the time. Returns read_case's CaseArrays."""
    from samed2d_fast.inputs import case_headers, read_case

    arrays = read_case(spec, case_headers(spec))
    for channel in arrays.channels:
        np.count_nonzero(channel.data)
    np.count_nonzero(arrays.label)
    return arrays


def decompress_class_files(headers, threads: int = 1) -> None:
    """Decompresses every label file of ``headers`` (a CaseHeaders) with the package's
    reader, as read_case does before painting, and drops each array at once (nothing
    more: this is what painting is measured against)."""
    def one(header):
        header.fmt.read(header, label=True, scaled=False)

    if threads <= 1:
        for header in headers.labels:
            one(header)
        return
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(one, headers.labels):
            pass
