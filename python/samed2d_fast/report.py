"""A Markdown report with PNG plots of an output folder: the figures of the
SA-Med2D-20M paper's section 3 for the user's own output.

* images and masks per modality (the paper's Table 1, and a bar plot),
* masks per class on a log scale, sorted by count (Figure 5: the long tail),
* masks per image, mask area as a fraction of the image (decoded from the mask
  PNGs; a reproducible sample of at most ``MAX_AREA_SAMPLE`` masks),
* slices per axis (x / y / z / 2d),
* the declared classes that have no mask at all in the output.

matplotlib is an optional extra (``pip install 'samed2d_fast[report]'``); it is
used through ``matplotlib.figure.Figure`` only, so neither pyplot's global state
nor the caller's backend is touched.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import List, Tuple

import numpy as np
from PIL import Image

from .naming import parse_image_path, parse_mask_path
from .output_folder import OutputFolder

__all__ = ["MAX_AREA_SAMPLE", "SMALL_MASK_FRACTION", "write_report"]

MAX_AREA_SAMPLE = 5000
SMALL_MASK_FRACTION = 100 / 65536  # SPEC section 4: a mask is dropped when area * 65536 < 100 * h * w
AXES = ("x", "y", "z", "2d")
MISSING_MATPLOTLIB = ("the report needs matplotlib, which is not installed: "
                      "pip install 'samed2d_fast[report]' (or pip install matplotlib)")

_BLUE = "#1f77b4"
_ORANGE = "#ff7f0e"


def _import_matplotlib():
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise RuntimeError(MISSING_MATPLOTLIB) from exc
    return Figure, FuncFormatter


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

def _axis(slice_id: str) -> str:
    return "2d" if slice_id == "2d_none" else slice_id.split("_", 1)[0]


def _mask_area_fraction(path: Path) -> float:
    with Image.open(path) as img:
        arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    return float(np.count_nonzero(arr)) / arr.size


class _Stats:
    """Everything the report shows, computed once from OUT."""

    def __init__(self, out: Path, max_area_sample: int, seed: int):
        self.out = out
        folder = OutputFolder(out)
        index = folder.index
        self.mapping = folder.class_mapping
        self.summary = folder.summary
        names = folder.class_names

        self.modality = defaultdict(lambda: [0, 0])       # modality -> [images, masks]
        self.dataset = defaultdict(lambda: [set(), set(), 0, 0, set()])  # ds -> [modalities, cases, images, masks, classes]
        self.axis = defaultdict(lambda: [0, 0])           # axis -> [images, masks]
        self.per_class: Counter = Counter()               # "dataset/class" -> masks
        self.masks_per_image: List[int] = []
        self.unparsed = 0
        all_masks: List[str] = []
        for key in sorted(index):
            masks = index[key]
            try:
                name = parse_image_path(key)
            except ValueError:
                self.unparsed += 1
                continue
            k = len(masks)
            self.masks_per_image.append(k)
            self.modality[name.modality][0] += 1
            self.modality[name.modality][1] += k
            ds = self.dataset[name.dataset]
            ds[0].add(name.modality)
            ds[1].add(name.case)
            ds[2] += 1
            ds[3] += k
            self.axis[_axis(name.slice_id)][0] += 1
            self.axis[_axis(name.slice_id)][1] += k
            for mask in masks:
                field = parse_mask_path(mask).class_field
                cls = names.get(name.dataset, {}).get(field, field)
                ds[4].add(cls)
                self.per_class[f"{name.dataset}/{cls}"] += 1
            all_masks.extend(masks)

        self.n_images = len(self.masks_per_image)
        self.n_masks = len(all_masks)
        self.n_cases = sum(len(d[1]) for d in self.dataset.values())

        # Mask areas: every mask, or a reproducible sample of them.
        self.area_sampled = len(all_masks) > max_area_sample
        chosen = random.Random(seed).sample(all_masks, max_area_sample) if self.area_sampled else all_masks
        self.areas = np.array([_mask_area_fraction(out / m) for m in sorted(chosen)], dtype=np.float64)

        # Declared classes with no mask at all in the output.
        declared = {ds: dict(classes) for ds, classes in folder.declared_classes.items()}
        for ds, classes in self.mapping.items():
            for cls, field in classes.items():
                declared.setdefault(ds, {}).setdefault(cls, field)
        self.missing: List[Tuple[str, str, str]] = []
        for ds in sorted(declared):
            for cls, field in sorted(declared[ds].items(), key=lambda kv: (kv[1], kv[0])):
                if self.per_class.get(f"{ds}/{cls}", 0) == 0:
                    self.missing.append((ds, cls, field))
        self.n_declared = sum(len(c) for c in declared.values())


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})


def _plot_modalities(Figure, stats: _Stats, path: Path) -> None:
    mods = sorted(stats.modality, key=lambda m: (-stats.modality[m][1], m))
    fig = Figure(figsize=(max(5.0, 0.9 * len(mods) + 2), 4))
    ax = fig.add_subplot()
    x = np.arange(len(mods))
    images = [stats.modality[m][0] for m in mods]
    masks = [stats.modality[m][1] for m in mods]
    ax.bar(x - 0.2, images, 0.4, label="images", color=_BLUE)
    ax.bar(x + 0.2, masks, 0.4, label="masks", color=_ORANGE)
    for xi, (i, m) in enumerate(zip(images, masks)):
        ax.annotate(f"{i:,}", (xi - 0.2, i), ha="center", va="bottom", fontsize=7)
        ax.annotate(f"{m:,}", (xi + 0.2, m), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels(mods, rotation=30 if len(mods) > 4 else 0, ha="right" if len(mods) > 4 else "center")
    if max(masks + [1]) > 50 * max(1, min(images + [1])):
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7)
    ax.set_ylabel("count")
    ax.set_title("Images and masks per modality")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def _plot_classes(Figure, stats: _Stats, path: Path) -> int:
    """Masks per class, sorted by count, log scale; returns the tick step."""
    items = sorted(stats.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
    n = len(items)
    step = max(1, math.ceil(n / 60))
    fig = Figure(figsize=(min(18.0, max(6.0, 0.22 * min(n, 60) + 2)), 5))
    ax = fig.add_subplot()
    if n:
        x = np.arange(n)
        ax.bar(x, [c for _, c in items], width=0.85 if n < 200 else 1.0, color=_BLUE)
        ticks = x[::step]
        ax.set_xticks(ticks)
        ax.set_xticklabels([items[i][0] for i in ticks], rotation=90, fontsize=7 if n < 40 else 6)
        ax.set_xlim(-0.7, n - 0.3)
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7)
    ax.set_ylabel("masks (log scale)")
    title = f"Masks per class ({n} classes, sorted by count)"
    if step > 1:
        title += f"; 1 class in {step} labelled"
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)
    return step


def _plot_masks_per_image(Figure, stats: _Stats, path: Path) -> None:
    counts = np.array(stats.masks_per_image, dtype=np.int64)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    if counts.size:
        top = int(counts.max())
        bins = np.arange(-0.5, top + 1.5, 1) if top <= 60 else np.linspace(-0.5, top + 0.5, 61)
        ax.hist(counts, bins=bins, color=_BLUE, edgecolor="white", linewidth=0.5)
        ax.axvline(counts.mean(), color=_ORANGE, linestyle="--", label=f"mean {counts.mean():.2f}")
        ax.legend(frameon=False)
    ax.set_xlabel("masks in the image")
    ax.set_ylabel("images")
    ax.set_title("Masks per image")
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def _plot_areas(Figure, FuncFormatter, stats: _Stats, path: Path) -> None:
    areas = stats.areas[stats.areas > 0]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.add_subplot()
    if areas.size:
        # 12 bins a decade, one edge on the filter's threshold
        first = math.floor(12 * math.log10(min(float(areas.min()), SMALL_MASK_FRACTION) / SMALL_MASK_FRACTION))
        last = math.ceil(12 * math.log10(1 / SMALL_MASK_FRACTION))
        bins = SMALL_MASK_FRACTION * 10 ** (np.arange(first - 1, last + 1) / 12)
        ax.hist(areas, bins=bins, color=_BLUE, edgecolor="white", linewidth=0.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:g}%"))
        ax.axvline(SMALL_MASK_FRACTION, color="#d62728", linestyle="--",
                   label=f"small-mask filter ({SMALL_MASK_FRACTION * 100:.3f}%)")
        ax.legend(frameon=False, loc="upper right")
    ax.set_xlabel("mask area / image area (log scale)")
    ax.set_ylabel("masks")
    sampled = f" (sample of {stats.areas.size:,})" if stats.area_sampled else ""
    ax.set_title("Mask area as a fraction of the image" + sampled)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def _plot_axes(Figure, stats: _Stats, path: Path) -> None:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.add_subplot()
    counts = [stats.axis.get(a, [0, 0])[0] for a in AXES]
    bars = ax.bar(AXES, counts, color=[_BLUE, _BLUE, _BLUE, _ORANGE])
    for bar, c in zip(bars, counts):
        ax.annotate(f"{c:,}", (bar.get_x() + bar.get_width() / 2, c), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("slice axis (2d: 2D images)")
    ax.set_ylabel("images")
    ax.set_title("Slices per axis")
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _table(header: List[str], rows: List[List], align: str = "") -> List[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


def write_report(out: Path, report_dir: Path, *, max_area_sample: int = MAX_AREA_SAMPLE, seed: int = 0) -> Path:
    """Writes ``report_dir/report.md`` and its PNG plots for the output folder ``out``.

    Returns the path of ``report.md``; the plots sit next to it and are linked
    relatively. Mask areas are computed by decoding the mask PNGs: all of them,
    or a reproducible sample (``random.Random(seed)``) of ``max_area_sample``.
    RuntimeError when matplotlib is not installed.
    """
    Figure, FuncFormatter = _import_matplotlib()
    out = Path(out)
    report_dir = Path(report_dir)
    stats = _Stats(out, max_area_sample, seed)
    report_dir.mkdir(parents=True, exist_ok=True)

    _plot_modalities(Figure, stats, report_dir / "modalities.png")
    step = _plot_classes(Figure, stats, report_dir / "masks_per_class.png")
    _plot_masks_per_image(Figure, stats, report_dir / "masks_per_image.png")
    _plot_areas(Figure, FuncFormatter, stats, report_dir / "mask_area.png")
    _plot_axes(Figure, stats, report_dir / "slices_per_axis.png")

    s = stats.summary
    md: List[str] = [f"# SA-Med2D output report: `{out.name}`", ""]
    md.append(f"Output folder: `{out}`. {stats.n_cases:,} cases, {stats.n_images:,} images, "
              f"{stats.n_masks:,} masks, {len(stats.dataset)} data sets, {len(stats.per_class)} classes with masks.")
    extra = []
    if s.get("failed"):
        extra.append(f"{s['failed']:,} cases failed (see `failures.json`)")
    if s.get("skipped_unlabelled"):
        extra.append(f"{s['skipped_unlabelled']:,} image files without a label were skipped")
    if stats.unparsed:
        extra.append(f"{stats.unparsed:,} entries of the index have names that do not parse and are left out")
    if s and (s.get("images"), s.get("masks")) != (stats.n_images, stats.n_masks):
        extra.append(f"`summary.json` counts {s.get('images')} images and {s.get('masks')} masks, "
                     "which differs from the index: was the folder changed after the run?")
    if extra:
        md += ["", "Note: " + "; ".join(extra) + "."]

    md += ["", "## Images and masks per modality (Table 1)", ""]
    rows = [[f"`{m}`", f"{v[0]:,}", f"{v[1]:,}", _ratio(v[1], v[0])]
            for m, v in sorted(stats.modality.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    rows.append(["**total**", f"**{stats.n_images:,}**", f"**{stats.n_masks:,}**", _ratio(stats.n_masks, stats.n_images)])
    md += _table(["Modality", "Images", "Masks", "Masks / image"], rows)
    md += ["", "![Images and masks per modality](modalities.png)", ""]

    md += ["## Data sets", ""]
    rows = [[f"`{ds}`", ", ".join(f"`{m}`" for m in sorted(v[0])), f"{len(v[1]):,}", f"{v[2]:,}", f"{v[3]:,}",
             str(len(v[4]))] for ds, v in sorted(stats.dataset.items())]
    md += _table(["Data set", "Modalities", "Cases", "Images", "Masks", "Classes"], rows, "llrrrr")
    md += [""]

    items = sorted(stats.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
    md += ["## Masks per class (Figure 5)", ""]
    if items:
        counts = np.array([c for _, c in items])
        top_share = counts[: max(1, math.ceil(len(counts) / 10))].sum() / counts.sum()
        md.append(f"{len(items)} classes (data set/class), sorted by their number of masks on a log scale: "
                  f"from {counts[0]:,} (`{items[0][0]}`) down to {counts[-1]:,} (`{items[-1][0]}`); "
                  f"the top 10% of classes hold {top_share:.0%} of the masks."
                  + (f" One class in {step} is labelled on the axis." if step > 1 else ""))
    md += ["", "![Masks per class](masks_per_class.png)", ""]
    shown = items if len(items) <= 40 else items[:20] + [("...", None)] + items[-20:]
    rows = [[f"`{k}`" if c is not None else k, f"{c:,}" if c is not None else ""] for k, c in shown]
    md += ["<details><summary>Masks per class" + (" (the 20 largest and the 20 smallest)" if len(items) > 40 else "")
           + "</summary>", ""]
    md += _table(["Class", "Masks"], rows)
    md += ["", "</details>", ""]

    md += ["## Masks per image", ""]
    mpi = np.array(stats.masks_per_image) if stats.masks_per_image else np.zeros(1)
    md.append(f"Mean {mpi.mean():.2f}, median {np.median(mpi):g}, maximum {int(mpi.max())} masks per image"
              + (f"; {int((mpi == 0).sum()):,} images without masks (`--keep-empty`)" if (mpi == 0).any() else "")
              + ".")
    md += ["", "![Masks per image](masks_per_image.png)", ""]

    md += ["## Mask area as a fraction of the image", ""]
    if stats.area_sampled:
        md.append(f"Computed by decoding a reproducible random sample of {stats.areas.size:,} of the "
                  f"{stats.n_masks:,} mask PNGs (seed {seed}).")
    else:
        md.append(f"Computed by decoding all {stats.n_masks:,} mask PNGs.")
    if stats.areas.size:
        q = np.percentile(stats.areas, [5, 50, 95]) * 100
        md.append(f"5th percentile {q[0]:.3g}%, median {q[1]:.3g}%, 95th percentile {q[2]:.3g}% of the image; "
                  f"the dashed line is the small-mask filter (masks under {SMALL_MASK_FRACTION * 100:.3f}% "
                  "of the image are dropped).")
    md += ["", "![Mask area](mask_area.png)", ""]

    md += ["## Slices per axis", ""]
    rows = [[a, f"{stats.axis.get(a, [0, 0])[0]:,}", f"{stats.axis.get(a, [0, 0])[1]:,}"] for a in AXES]
    md += _table(["Axis", "Images", "Masks"], rows)
    md += ["", "`x`, `y`, `z`: slices of 3D volumes along that axis; `2d`: 2D images (`2d_none`).", "",
           "![Slices per axis](slices_per_axis.png)", ""]

    md += ["## Declared classes without any mask", ""]
    if stats.missing:
        md.append(f"{len(stats.missing)} of the {stats.n_declared} declared classes have no mask at all in the "
                  "output: every mask of theirs was dropped by the small-mask filter, or the labels never "
                  "contain them.")
        md.append("")
        md += _table(["Data set", "Class", "Class id"], [[f"`{d}`", f"`{c}`", f"`{f}`"] for d, c, f in stats.missing],
                     "lll")
    else:
        md.append(f"None: each of the {stats.n_declared} declared classes has at least one mask.")
    md.append("")

    path = report_dir / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path
