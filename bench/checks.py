"""Output comparisons shared by compare.py and the pytest-benchmark suites, and the timing
requirements compare.py reports (never asserted: a slow run is reported, not failed)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from peers import cv2


def same_instances(ours, ref) -> bool:
    """samed2d_fast Instances equal slice_instances_ref's dicts, field by field, in order."""
    return len(ours) == len(ref) and all(
        (o.label, o.union, o.members, o.area, o.bbox) == (r["label"], r["union"], r["members"], r["area"], r["bbox"])
        and np.array_equal(o.mask, r["mask"])
        for o, r in zip(ours, ref)
    )


def same_masks_any_order(a, b) -> bool:
    """Two lists of (label, bool mask) hold the same masks, whatever their order."""

    def key(pairs):
        return sorted((int(v), m.shape, np.packbits(m).tobytes()) for v, m in pairs)

    return key(a) == key(b)


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def decoders() -> dict:
    """Every PNG decoder at hand (SPEC 5: any standard decoder must read the same pixels)."""
    out = {"Pillow": decode_png}
    if cv2 is not None:
        out["cv2"] = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return out


def png_round_trips(pngs, expected) -> bool:
    """Each PNG decodes, with every decoder, to exactly its expected uint8 pixels."""
    return all(
        np.array_equal(decode(data), pixels)
        for decode in decoders().values()
        for data, pixels in zip(pngs, expected)
    )


def same_png_trees(a: Path, b: Path) -> list[str]:
    """Differences between two output folders: names, then decoded pixels (bytes may differ)."""
    names_a = {p.relative_to(a) for p in a.rglob("*.png")}
    names_b = {p.relative_to(b) for p in b.rglob("*.png")}
    problems = [f"only in {a.name}: {n}" for n in sorted(names_a - names_b)[:5]]
    problems += [f"only in {b.name}: {n}" for n in sorted(names_b - names_a)[:5]]
    for name in sorted(names_a & names_b):
        data_a, data_b = (a / name).read_bytes(), (b / name).read_bytes()
        if data_a != data_b and not np.array_equal(decode_png(data_a), decode_png(data_b)):
            problems.append(f"pixels differ: {name}")
    return problems


def tree_problems(out_dir: Path, ref: dict) -> list[str]:
    """Differences between an output folder and convert_case_ref's in-memory result."""
    expected = {**ref["images"], **{n: m.view(np.uint8) * np.uint8(255) for n, m in ref["masks"].items()}}
    written = {str(p.relative_to(out_dir)) for p in Path(out_dir).rglob("*.png")}
    problems = [f"missing: {n}" for n in sorted(set(expected) - written)[:5]]
    problems += [f"unexpected: {n}" for n in sorted(written - set(expected))[:5]]
    for name in sorted(set(expected) & written):
        if not np.array_equal(decode_png((Path(out_dir) / name).read_bytes()), expected[name]):
            problems.append(f"pixels differ: {name}")
    return problems


# ---- the input readers ------------------------------------------------------------------


def case_arrays(arrays):
    """(each image channel in RAS+, the label map) of a ``read_case`` result."""
    return [c.ras(c.data) for c in arrays.channels], arrays.label


def same_case_arrays(a, b) -> bool:
    """Two ``read_case`` results hold the same values on the same RAS+ grid (dtypes may
    differ only where the values are equal, as a DICOM series' int16 and a NIfTI's)."""
    (channels_a, label_a), (channels_b, label_b) = case_arrays(a), case_arrays(b)
    return (len(channels_a) == len(channels_b)
            and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(channels_a, channels_b))
            and label_a is not None and label_b is not None
            and label_a.shape == label_b.shape and np.array_equal(label_a, label_b))


# Issue 11: painting a label set adds at most this fraction of the time its class files
# take to decompress, measured in the same run.
PAINT_OVER_DECOMPRESSION_MAX = 0.5


def not_slower(what: str, ms: float, baseline: str, baseline_ms: float):
    """(text, holds) of "reading ``what`` is not slower than ``baseline``"."""
    text = f"{what} is read no slower than {baseline}: {ms:.1f} ms vs {baseline_ms:.1f} ms ({ms / baseline_ms:.2f}x)"
    return text, ms <= baseline_ms


def painting_requirement(paint_ratio: float, paint_ms: float, decompress_ms: float, files: int):
    """(text, holds) of issue 11's bound on painting next to decompression."""
    text = (f"painting {files} class files adds at most {PAINT_OVER_DECOMPRESSION_MAX}x their decompression "
            f"time: {paint_ratio:.2f}x ({paint_ms:.0f} ms next to {decompress_ms:.0f} ms)")
    return text, paint_ratio <= PAINT_OVER_DECOMPRESSION_MAX


def release_image_matches(path: Path, scaled: np.ndarray) -> bool:
    """An image of the release preset decodes to SPEC 7's formula on its slice of the
    scaled RAS+ volume (numpy, the peer's), as three equal channels."""
    from peers import _display, normalize_release_numpy

    axis_name, index = Path(path).stem.rsplit("--", 1)[1].split("_")
    expected = normalize_release_numpy(_display(scaled, "xyz".index(axis_name), int(index)))
    got = np.asarray(Image.open(path))
    return got.shape == expected.shape + (3,) and all(np.array_equal(got[..., c], expected) for c in range(3))
