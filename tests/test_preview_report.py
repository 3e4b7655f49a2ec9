"""`samed2d preview` and `samed2d report`: the contact sheet and the Markdown report of an output."""

import builtins
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samed2d_fast import cli
from samed2d_fast.naming import parse_image_path, parse_mask_path
from samed2d_fast.phantom import DEMO_CT_SHAPE
from samed2d_fast.preview import FILL_ALPHA, GAP, PALETTE, contact_sheet_size, make_contact_sheet, pick_images


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", str(root), "-j", "1", "--no-progress"]) == 0
    folder = root / "SAMed2Dv1"
    assert (folder / "SAMed2D_v1.json").is_file()
    return folder


def _index(out):
    return json.loads((out / "SAMed2D_v1.json").read_text())


def _mapping(out):
    return json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())


def _arr(img):
    return np.asarray(img, dtype=np.int16)


# --- contact sheet ---------------------------------------------------------

def test_sheet_size_is_a_grid_of_tiles(out):
    sheet = make_contact_sheet(out, n=9, seed=0, size=128)
    assert sheet.mode == "RGB"
    assert sheet.size == contact_sheet_size(9, 128)
    assert sheet.size[0] == 3 * 128 + 4 * GAP
    assert sheet.size[1] > 3 * 128
    sheet = make_contact_sheet(out, n=5, seed=0, size=64)  # ceil(sqrt(5)) = 3 columns, 2 rows
    assert sheet.size == contact_sheet_size(5, 64)
    assert sheet.size[0] == 3 * 64 + 4 * GAP


def test_sheet_is_deterministic_for_a_seed_and_differs_for_another(out):
    a = make_contact_sheet(out, n=4, seed=3, size=96)
    b = make_contact_sheet(out, n=4, seed=3, size=96)
    c = make_contact_sheet(out, n=4, seed=4, size=96)
    assert a.tobytes() == b.tobytes()
    assert pick_images(out, 4, seed=3) != pick_images(out, 4, seed=4)
    assert a.tobytes() != c.tobytes()


def test_pick_is_a_seeded_sample_of_the_sorted_images(out):
    import random

    keys = sorted(_index(out))
    assert pick_images(out, 7, seed=11) == sorted(random.Random(11).sample(keys, 7))
    assert pick_images(out, 10_000) == keys  # fewer images than asked for: all of them


def test_filter_by_dataset(out):
    picked = pick_images(out, 50, dataset="PhantomDerm")
    assert picked and all(parse_image_path(k).dataset == "PhantomDerm" for k in picked)
    sheet = make_contact_sheet(out, n=16, dataset="PhantomDerm", size=64)
    assert sheet.size == contact_sheet_size(len(picked), 64)  # only the data set's images


def test_filter_by_class(out):
    index, mapping = _index(out), _mapping(out)
    field = mapping["PhantomCT"]["liver_tumor"]
    expected = sorted(k for k, masks in index.items()
                      if any(parse_mask_path(m).class_field == field for m in masks))
    assert expected and len(expected) < len(index)
    assert pick_images(out, 10_000, class_name="liver_tumor") == expected
    assert pick_images(out, 10_000, dataset="PhantomCT", class_name="liver_tumor") == expected
    sheet = make_contact_sheet(out, n=2, class_name="liver_tumor", size=64, seed=1)
    assert sheet.size == contact_sheet_size(2, 64)


@pytest.mark.parametrize("kwargs, words", [
    (dict(dataset="NoSuchSet"), ["NoSuchSet", "PhantomCT", "PhantomDerm"]),
    (dict(class_name="no_such_class"), ["no_such_class", "liver"]),
    (dict(dataset="PhantomDerm", class_name="liver"), ["PhantomDerm", "liver", "lesion"]),
])
def test_filter_matching_nothing_raises(out, kwargs, words):
    with pytest.raises(ValueError) as info:
        make_contact_sheet(out, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_arguments_raise(out):
    with pytest.raises(ValueError):
        make_contact_sheet(out, n=0)
    with pytest.raises((FileNotFoundError, ValueError)):
        make_contact_sheet(out / "nowhere")


def test_colour_is_drawn_where_the_masks_are(out):
    """A CT slice is grey (R = G = B): coloured pixels are the masks' fills, outlines and labels."""
    index = _index(out)
    key = pick_images(out, 1, dataset="PhantomCT", seed=5)[0]
    image = np.asarray(Image.open(out / key))
    x, y, _ = DEMO_CT_SHAPE
    assert parse_image_path(key).slice_id.startswith("z_") and image.shape == (y, x)  # drawn 1:1 below
    union = np.zeros(image.shape, bool)
    for mask in index[key]:
        union |= np.asarray(Image.open(out / mask)) > 0
    assert union.any()

    sheet = make_contact_sheet(out, n=1, dataset="PhantomCT", seed=5, size=max(x, y))
    tile = _arr(sheet)[GAP:GAP + y, GAP:GAP + x]
    coloured = (tile[..., 0] != tile[..., 1]) | (tile[..., 1] != tile[..., 2])
    assert coloured[union].mean() > 0.9          # fills cover the masks
    assert coloured[~union].mean() < 0.1         # elsewhere only the labels
    # the fill is translucent: inside the first mask, tile = 0.65 grey + 0.35 colour (labels aside)
    first = np.asarray(Image.open(out / index[key][0])) > 0
    for other in index[key][1:]:
        first &= ~(np.asarray(Image.open(out / other)) > 0)
    interior = first.copy()
    interior[1:-1, 1:-1] &= first[:-2, 1:-1] & first[2:, 1:-1] & first[1:-1, :-2] & first[1:-1, 2:]
    interior[[0, -1], :] = interior[:, [0, -1]] = False
    assert interior.sum() > 20
    expected = image[..., None] * (1 - FILL_ALPHA) + np.array(PALETTE[0]) * FILL_ALPHA
    close = (np.abs(tile - expected) <= 1.5).all(axis=2)
    assert close[interior].mean() > 0.6


def test_colour_images_and_letterbox(out):
    """The 2D dermoscopy images are RGB 512 x 384: scaled into the tile with a black band."""
    key = pick_images(out, 1, dataset="PhantomDerm")[0]
    w, h = Image.open(out / key).size
    assert (w, h) == (512, 384)
    sheet = make_contact_sheet(out, n=1, dataset="PhantomDerm", size=128)
    tile = _arr(sheet)[GAP:GAP + 128, GAP:GAP + 128]
    band = round(128 - 384 * 128 / 512) // 2
    assert band > 0
    assert (tile[:band - 1] == 0).all() and (tile[-band + 1:] == 0).all()
    assert tile[band + 2:-band - 2].mean() > 40


# --- report ----------------------------------------------------------------

@pytest.fixture(scope="module")
def report(out, tmp_path_factory):
    pytest.importorskip("matplotlib")
    from samed2d_fast.report import write_report

    folder = tmp_path_factory.mktemp("report")
    path = write_report(out, folder)
    return path


def test_report_writes_markdown_and_every_linked_png(report):
    assert report.name == "report.md" and report.is_file()
    text = report.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 5
    for link in links:
        assert not Path(link).is_absolute()
        png = report.parent / link
        assert png.is_file()
        with Image.open(png) as img:
            assert img.format == "PNG" and img.size[0] > 100 and img.size[1] > 100


def test_report_content(out, report):
    text = report.read_text()
    summary = json.loads((out / "summary.json").read_text())
    for modality, row in summary["per_modality"].items():
        assert f"| `{modality}` | {row['images']:,} | {row['masks']:,} |" in text
    assert f"**{summary['images']:,}**" in text and f"**{summary['masks']:,}**" in text
    for cls in summary["per_class"]:
        assert f"`{cls}`" in text
    assert "| z | " in text and "| 2d | " in text
    assert "decoding all" in text  # the demo is small: every mask decoded
    # declared classes without any mask: declared in the records, absent from the output
    declared = set()
    for rec in (out / ".samed2d" / "records").glob("*.json"):
        r = json.loads(rec.read_text())
        declared |= {f"{r['dataset']}/{name}" for name in r["declared"]}
    missing = sorted(declared - set(summary["per_class"]))
    assert missing, "the demo declares classes it never emits"
    section = text.split("## Declared classes without any mask", 1)[1]
    for item in missing:
        ds, cls = item.split("/", 1)
        assert f"| `{ds}` | `{cls}` |" in section
    for item in summary["per_class"]:
        assert f"`{item.split('/', 1)[1]}` |" not in section


def test_report_samples_mask_areas_on_large_outputs(out, tmp_path):
    pytest.importorskip("matplotlib")
    from samed2d_fast.report import write_report

    path = write_report(out, tmp_path / "r", max_area_sample=50)
    text = path.read_text()
    assert "sample of 50" in text
    assert path.read_text() == write_report(out, tmp_path / "r2", max_area_sample=50).read_text()


def test_report_without_matplotlib_says_how_to_install(out, tmp_path, monkeypatch):
    from samed2d_fast import report as report_module

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(RuntimeError) as info:
        report_module.write_report(out, tmp_path / "r")
    message = str(info.value)
    assert "matplotlib" in message and "pip install 'samed2d_fast[report]'" in message
    assert "\n" not in message
    assert not (tmp_path / "r").exists()  # nothing written
