"""A contact sheet of an output folder: images with their masks drawn over them.

One glance shows whether orientation, normalisation and masks are right: each
picked image is scaled into a square tile, every mask gets its own colour (a
translucent fill and an outline) and its class name, and the image's name is
written under the tile. The pick is reproducible: ``random.Random(seed)`` samples
from the sorted list of images that pass the filters.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .naming import clean_field, parse_image_path, parse_mask_path
from .output_folder import OutputFolder

__all__ = ["PALETTE", "contact_sheet_size", "make_contact_sheet", "pick_images"]

# Tableau-like colours that stay apart on grey CT and on skin tones alike.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (255, 127, 14),   # orange
    (31, 160, 255),   # blue
    (44, 200, 64),    # green
    (230, 40, 60),    # red
    (170, 110, 230),  # violet
    (255, 220, 40),   # yellow
    (0, 210, 200),    # cyan
    (240, 100, 190),  # pink
    (150, 220, 60),   # lime
    (160, 100, 60),   # brown
)
FILL_ALPHA = 0.35
GAP = 6                      # pixels between tiles and around the sheet
BACKGROUND = (28, 28, 30)    # the sheet
TILE_BACKGROUND = (0, 0, 0)  # the letterbox around an image that is not square
CAPTION_COLOUR = (225, 225, 225)


# ---------------------------------------------------------------------------
# Picking
# ---------------------------------------------------------------------------

def pick_images(out: Path, n: int = 16, dataset: Optional[str] = None, class_name: Optional[str] = None,
                seed: int = 0, *, folder: Optional[OutputFolder] = None) -> List[str]:
    """The image keys (``images/<stem>.png``) a contact sheet shows, in sorted order.

    ``random.Random(seed).sample`` over the sorted images that pass the filters:
    ``dataset`` matches the name's data set field; ``class_name`` keeps the
    images with a mask of that class (looked up in the class mapping of the
    image's data set). All of them when fewer than ``n`` pass. ValueError when
    none passes. ``folder``: OUT already read (an :class:`OutputFolder` of ``out``).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    out = Path(out)
    folder = OutputFolder(out) if folder is None else folder
    index, mapping = folder.index, folder.class_mapping
    if not index:
        raise ValueError(f"no images in {out}")

    datasets_of: Dict[str, str] = {}
    for key in index:
        try:
            datasets_of[key] = parse_image_path(key).dataset
        except ValueError:
            continue
    candidates = sorted(datasets_of)
    if dataset is not None:
        wanted = {dataset, clean_field(dataset)}
        candidates = [k for k in candidates if datasets_of[k] in wanted]
        if not candidates:
            known = ", ".join(sorted(set(datasets_of.values())))
            raise ValueError(f"no image of data set {dataset!r} in {out} (data sets: {known})")
    if class_name is not None:
        fields = {ds: classes[class_name] for ds, classes in mapping.items() if class_name in classes}
        candidates = [k for k in candidates
                      if datasets_of[k] in fields
                      and any(parse_mask_path(m).class_field == fields[datasets_of[k]] for m in index[k])]
        if not candidates:
            where = f" of data set {dataset!r}" if dataset is not None else ""
            scope = [mapping.get(ds, {}) for ds in ({datasets_of[k] for k in index if k in datasets_of}
                                                      if dataset is None else {clean_field(dataset), dataset})]
            known = sorted({name for classes in scope for name in classes})
            shown = ", ".join(known[:30]) + (f", ... ({len(known)} in all)" if len(known) > 30 else "")
            raise ValueError(f"no image{where} with a mask of class {class_name!r} in {out} "
                             f"(classes: {shown or 'none'})")
    picked = random.Random(seed).sample(candidates, min(n, len(candidates)))
    return sorted(picked)


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------

def _font(size: int = 256):
    """Pillow's default font, scaled with the tile (the bitmap font when FreeType is missing)."""
    try:
        return ImageFont.load_default(size=max(8, min(14, round(size / 24))))
    except (TypeError, ImportError, OSError):  # Pillow < 10.1, or no FreeType
        return ImageFont.load_default()


def _text_size(font, text: str) -> Tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _line_height(font) -> int:
    return _text_size(font, "Ag_|")[1] + 3


def _caption_height(font) -> int:
    return 2 * _line_height(font) + 4


def contact_sheet_size(count: int, size: int = 256) -> Tuple[int, int]:
    """(width, height) of a sheet of ``count`` tiles of ``size`` pixels."""
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    cell_h = size + _caption_height(_font(size))
    return cols * size + (cols + 1) * GAP, rows * cell_h + (rows + 1) * GAP


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any decoded image as uint8 RGB (16-bit and float images min-max scaled for display)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        img = Image.fromarray(arr.round().astype(np.uint8), "L")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def _read_mask(path: Path, shape: Tuple[int, int]) -> np.ndarray:
    """A mask PNG as a boolean array of ``shape`` (h, w), resized with nearest neighbour."""
    with Image.open(path) as img:
        arr = np.asarray(img)
        if arr.ndim == 3:
            arr = arr.max(axis=2)
        if arr.shape != shape:
            arr = np.asarray(Image.fromarray((arr > 0).astype(np.uint8) * 255, "L")
                             .resize((shape[1], shape[0]), Image.NEAREST))
    return arr > 0


def _erode(mask: np.ndarray) -> np.ndarray:
    """4-neighbour binary erosion with numpy shifts (outside the image counts as background)."""
    eroded = mask.copy()
    eroded[1:, :] &= mask[:-1, :]
    eroded[:-1, :] &= mask[1:, :]
    eroded[:, 1:] &= mask[:, :-1]
    eroded[:, :-1] &= mask[:, 1:]
    eroded[0, :] = eroded[-1, :] = False
    eroded[:, 0] = eroded[:, -1] = False
    return eroded


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    inner = mask
    for _ in range(width):
        inner = _erode(inner)
    return mask & ~inner


def _boxes_overlap(a, b) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def _shorten(text: str, width: int, font) -> str:
    """``text`` cut in the middle with ``...`` until it fits ``width`` pixels."""
    if _text_size(font, text)[0] <= width:
        return text
    keep = len(text)
    while keep > 2:
        keep -= 1
        head = (keep + 1) // 2
        cut = text[:head] + "..." + text[len(text) - (keep - head):]
        if _text_size(font, cut)[0] <= width:
            return cut
    return text[:1] + "..."


def _draw_tile(out: Path, key: str, masks: Sequence[str], names: Dict[str, str], size: int, font) -> Image.Image:
    with Image.open(out / key) as img:
        rgb = _to_rgb(img)
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    if (th, tw) != (h, w):
        rgb = np.asarray(Image.fromarray(rgb, "RGB").resize((tw, th), Image.BILINEAR))
    canvas = rgb.astype(np.float32)

    outline_width = 1 if size <= 320 else 2
    drawn = []  # (colour, outline, bbox, class name) per mask
    for i, mask_key in enumerate(masks):
        colour = np.array(PALETTE[i % len(PALETTE)], dtype=np.float32)
        mask = _read_mask(out / mask_key, (th, tw))
        if not mask.any():
            continue
        canvas[mask] = canvas[mask] * (1.0 - FILL_ALPHA) + colour * FILL_ALPHA
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        bbox = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        field = parse_mask_path(mask_key).class_field
        drawn.append((PALETTE[i % len(PALETTE)], _outline(mask, outline_width), bbox, names.get(field, field), mask))
    for colour, outline, _, _, _ in drawn:  # outlines last: no later fill dims them
        canvas[outline] = colour

    tile = Image.new("RGB", (size, size), TILE_BACKGROUND)
    x0, y0 = (size - tw) // 2, (size - th) // 2
    tile.paste(Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8), "RGB"), (x0, y0))

    # Labels: a small box in the mask's colour next to the mask. Small masks
    # choose first; each takes the first of a few places around its bounding
    # box that covers the least of the other labels and masks (its own mask is
    # covered more willingly).
    covered = np.zeros((size + 1, size + 1), np.int32)   # summed-area table of all masks
    owns = []
    for _, _, _, _, mask in drawn:
        padded = np.zeros((size, size), np.int32)
        padded[y0:y0 + th, x0:x0 + tw] = mask
        own = np.zeros((size + 1, size + 1), np.int32)
        own[1:, 1:] = padded.cumsum(0).cumsum(1)
        owns.append(own)
        covered += own

    def box_sum(table, box):
        a, b, c, d = box
        return int(table[d, c] - table[b, c] - table[d, a] + table[b, a])

    tile = tile.convert("RGBA")
    draw = ImageDraw.Draw(tile)
    placed: List[Tuple[int, int, int, int]] = []
    labelled = set()
    for i in sorted(range(len(drawn)), key=lambda i: (int(drawn[i][4].sum()), i)):
        colour, _, (bx0, by0, bx1, by1), name, _ = drawn[i]
        text = _shorten(name, size - 4, font)
        tw_, th_ = _text_size(font, text)
        bw, bh = tw_ + 4, th_ + 4
        mx, my = (bx0 + bx1 - bw) // 2, (by0 + by1 - bh) // 2
        candidates = [(bx0, by0 - bh - 1), (mx, by0 - bh - 1), (bx0, by1 + 1), (mx, by1 + 1),
                      (bx1 + 2, my), (bx0 - bw - 2, my), (bx0, by0), (mx, my)]
        best = None
        for cx, cy in candidates:
            cx = min(max(cx + x0, 0), size - bw)
            cy = min(max(cy + y0, 0), size - bh)
            box = (cx, cy, cx + bw, cy + bh)
            clash = sum(_boxes_overlap(box, p) for p in placed)
            own = box_sum(owns[i], box)
            score = 10 * clash + (box_sum(covered, box) - own) + 0.3 * own
            if best is None or score < best[0]:
                best = (score, clash, box)
        _, clash, box = best
        if clash and (name in labelled or clash > 0.25 * bw * bh):
            continue  # unreadable under another label, or another instance already carries the name
        placed.append(box)
        labelled.add(name)
        patch = Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), (*colour, 200))
        tile.alpha_composite(patch, (box[0], box[1]))
        dark = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] > 140
        left, top, _, _ = font.getbbox(text)
        draw.text((box[0] + 2 - left, box[1] + 2 - top), text, fill=(0, 0, 0) if dark else (255, 255, 255), font=font)
    return tile.convert("RGB")


def make_contact_sheet(out: Path, n: int = 16, dataset: Optional[str] = None, class_name: Optional[str] = None,
                       seed: int = 0, size: int = 256) -> Image.Image:
    """A grid of ``n`` images of the output folder ``out`` with their masks drawn over them.

    Images are picked with :func:`pick_images` (reproducible for a ``seed``;
    ``dataset`` and ``class_name`` filter, ValueError when nothing matches) and
    shown in sorted order, each scaled to fit a ``size`` x ``size`` tile, in
    ``ceil(sqrt(count))`` columns. Every mask gets a colour of :data:`PALETTE`
    (cycled in the image's mask order), a translucent fill, an outline and its
    class name; under each tile, the image's data set, case, slice and modality.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    out = Path(out)
    folder = OutputFolder(out)
    keys = pick_images(out, n, dataset, class_name, seed, folder=folder)
    index, names_by_dataset = folder.index, folder.class_names
    font = _font(size)
    line_h = _line_height(font)

    width, height = contact_sheet_size(len(keys), size)
    cols = math.ceil(math.sqrt(len(keys)))
    cell_h = size + _caption_height(font)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, key in enumerate(keys):
        name = parse_image_path(key)
        x = GAP + (i % cols) * (size + GAP)
        y = GAP + (i // cols) * (cell_h + GAP)
        sheet.paste(_draw_tile(out, key, index[key], names_by_dataset.get(name.dataset, {}), size, font), (x, y))
        count = len(index[key])
        lines = (f"{name.dataset} / {name.case}",
                 f"{name.slice_id}  {name.modality}  {count} mask{'s' if count != 1 else ''}")
        for j, line in enumerate(lines):
            text = _shorten(line, size, font)
            left, top, _, _ = font.getbbox(text)
            draw.text((x - left, y + size + 3 + j * line_h - top), text, fill=CAPTION_COLOUR, font=font)
    return sheet
