"""Times samed2d_fast beside its peers, stage by stage and for one whole case.

    python bench/compare.py [--quick] [--markdown FILE] [--workdir DIR] [--require-timings]

Prints machine facts, then ``| stage | ours (ms) | peer | peer (ms) | ratio |`` with
medians over repeats (ratio = peer / ours: above 1, ours is faster), PNG sizes, the peak
memory of one case, where our whole-case time goes, reading one case from each container
and a label set's painting next to its decompression. Timings are reported, never
asserted; the exit status is 1 only when an output check fails (outputs that must be
equal are not), so a broken harness or a wrong result shows in CI. The timing
requirements of the issues are reported as holding or not; ``--require-timings`` makes
one that does not hold fail the run too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import nibabel as nib
import numpy as np
from isal import igzip as isal_gzip

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checks  # noqa: E402
import inputs  # noqa: E402
import peers  # noqa: E402  (also puts tests/ on sys.path)
from reference import normalize_ref, slice_instances_ref  # noqa: E402

import samed2d_fast  # noqa: E402
from samed2d_fast import _core, cli  # noqa: E402
from samed2d_fast.inputs import case_headers, read_case  # noqa: E402
from samed2d_fast.inputs import nifti as sio  # noqa: E402
from samed2d_fast.inputs.volume import check_same_grid  # noqa: E402
from samed2d_fast.instances import slice_instances_raw  # noqa: E402
from samed2d_fast.output import encode_mask_png, encode_png, write_atomic  # noqa: E402
from samed2d_fast.slicing import iter_display_slices, kept_axes  # noqa: E402

DATASET, MODALITY, CASE = "bench", "ct_00", "bench"
SLICE_STEP = 5  # stage benchmarks use every 5th z slice


class Report:
    def __init__(self):
        self.rows = []      # (stage, ours ms, peer, peer ms)
        self.sections = []  # (title, markdown lines)
        self.checks = []    # (what, ok)
        self.requirements = []  # (what, holds): timing requirements, reported

    def row(self, stage, ours_ms, peer, peer_ms):
        """Times in ms: a median, or the list of every repeat (the table then shows the
        median and the spread, min-max)."""
        self.rows.append((stage, ours_ms, peer, peer_ms))

    def check(self, what, ok):
        self.checks.append((what, bool(ok)))
        if not ok:
            log(f"MISMATCH: {what}")

    def requirement(self, what, holds):
        self.requirements.append((what, bool(holds)))
        if not holds:
            log(f"DOES NOT HOLD: {what}")

    def table(self):
        lines = ["| stage | ours (ms) | peer | peer (ms) | ratio |", "|---|---:|---|---:|---:|"]
        for stage, ours, peer, theirs in self.rows:
            ratio = _median(theirs) / _median(ours)
            lines.append(f"| {stage} | {_cell(ours)} | {peer} | {_cell(theirs)} | {ratio:.2f} |")
        return lines


def _median(ms) -> float:
    return statistics.median(ms) if isinstance(ms, list) else ms


def _cell(ms) -> str:
    """A median, with the spread of the repeats (min-max) where they were kept."""
    if not isinstance(ms, list):
        return fmt_ms(ms)
    return f"{fmt_ms(statistics.median(ms))} ({fmt_ms(min(ms))}-{fmt_ms(max(ms))})"


def log(message):
    print(message, file=sys.stderr, flush=True)


def fmt_ms(ms):
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:.0f}"


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(fns: dict, repeats) -> dict:
    """{name: [ms of each repeat]} of several functions timed in turn within each repeat, so
    that a slow spell of a shared machine falls on all of them alike."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - start))
    return times


def into_new_folder(run, paths, out: Path, class_names):
    """A call of a whole-case pipeline that first removes ``out`` (left by the last repeat)."""
    return lambda: (shutil.rmtree(out, ignore_errors=True), run(*paths, out, class_names))


def timed_case(fn, repeats, root: Path, name: str):
    """Median ms of ``fn(out_dir)`` into a new empty folder each repeat.

    Returns (ms, last folder, last result); earlier folders are removed untimed.
    """
    times, out, result = [], None, None
    for r in range(repeats):
        if out is not None:
            shutil.rmtree(out)
        out = root / f"{name}-{r}"
        start = time.perf_counter()
        result = fn(out)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times), out, result


# ---- whole-case pipelines (by name, so that a spawned child can find them) -------------


def run_ours(image, label, out, class_names):
    return samed2d_fast.convert_case(
        image, label, out, dataset=DATASET, modality=MODALITY, case=CASE, class_names=class_names
    )


def run_plain(image, label, out, class_names):
    return peers.write_case_ref(
        image, label, out, dataset=DATASET, modality=MODALITY, case=CASE, class_names=class_names
    )


def run_cc3d(image, label, out, class_names):
    return peers.convert_case_cc3d(image, label, out, dataset=DATASET, modality=MODALITY, case=CASE)


PIPELINES = {
    "ours": ("samed2d_fast.convert_case", run_ours),
    "plain": ("plain numpy+scipy+Pillow (write_case_ref)", run_plain),
    "cc3d": (f"cc3d + numpy + {peers.PNG_FASTEST_NAME}, no consolidation", run_cc3d),
}


# ---- stages ---------------------------------------------------------------------------


def bench_normalize(case, repeats, report):
    """Each dtype the issue names: a new array (the API, whose pages the kernel faults in
    as it writes) and into an existing one (out=), against numpy's exact formula and
    against numpy.copyto of the input into an existing buffer, timed in turn."""
    for name, volume, exact, exact_name in (
        ("int16", case.image, peers.normalize_int_exact, "numpy int64, blockwise (exact)"),
        ("uint16", inputs.uint16_volume(case.image), peers.normalize_int_exact, "numpy int64, blockwise (exact)"),
        ("int32", case.image.astype(np.int32), peers.normalize_int_exact, "numpy int64, blockwise (exact)"),
        ("float32", inputs.float_volume(case.image), peers.normalize_float_exact, "numpy float64, blockwise (exact)"),
    ):
        log(f"normalise {name}")
        grid = "x".join(map(str, volume.shape))
        buffer, out = np.empty_like(volume), np.empty(volume.shape, np.uint8)
        times = interleaved_ms({
            "new": lambda: samed2d_fast.normalize(volume),
            "out": lambda: samed2d_fast.normalize(volume, out=out),
            "copy": lambda: peers.copy_bytes(volume, buffer),
        }, repeats)
        stage = f"normalise {name} {grid}, a new array"
        report.row(stage, times["new"], exact_name, median_ms(lambda: exact(volume), repeats))
        report.row(stage, times["new"], "numpy.copyto of the input (bandwidth)", times["copy"])
        report.row(f"normalise {name} {grid}, into out=", times["out"], "numpy.copyto of the input (bandwidth)",
                   times["copy"])
        ratio = statistics.median(times["out"]) / statistics.median(times["copy"])
        report.requirement(f"normalise {name} into out= <= 2x a copy of the volume ({_core.simd_path()} path): "
                           f"{ratio:.2f}x", ratio <= 2)
        report.check(f"normalise {name}: ours == {exact_name}",
                     np.array_equal(samed2d_fast.normalize(volume), exact(volume)))
        slab = volume[:, :, :2]  # normalize_ref is slow: a slab checks the peer itself
        report.check(f"normalise {name}: {exact_name} == normalize_ref on a 2-slice slab",
                     np.array_equal(exact(slab), normalize_ref(slab)))


def bench_instances(case, repeats, report):
    """Like-for-like pairs only: each side gives the same things (a bool mask per
    instance, or a PNG per instance, or neither), timed in turn within each repeat."""
    slices = inputs.label_slices(case.labels, SLICE_STEP)
    log(f"instances of {len(slices)} slices")
    h, w = slices[0].shape
    where = f"{len(slices)} z slices {h}x{w}"
    times = interleaved_ms({
        "ours masks": lambda: [i.mask for s in slices for i in samed2d_fast.slice_instances(s)],
        "cc3d masks": lambda: [peers.instances_cc3d(s) for s in slices],
        "scipy masks": lambda: [peers.instances_scipy(s) for s in slices],
        "ours compact": lambda: [_core.slice_instances(s, 8, "outer", peers.MIN_AREA_RATIO, False) for s in slices],
        "cc3d compact": lambda: [peers.instances_cc3d(s, masks=False) for s in slices],
        "ours pngs": lambda: [slice_instances_raw(s, with_components=False, with_pngs=True) for s in slices],
        "cc3d pngs": lambda: [[peers.png_fastest(m.view(np.uint8) * np.uint8(255))
                               for _, m in peers.instances_cc3d(s)] for s in slices],
    }, repeats)
    stage = f"instances + a bool mask each (slice_instances, inst.mask), {where}"
    report.row(stage, times["ours masks"], "cc3d multilabel + statistics + a bool mask each", times["cc3d masks"])
    report.row(stage, times["ours masks"], "scipy.ndimage label + find_objects + a bool mask each",
               times["scipy masks"])
    report.row(f"instances, no masks (labels, areas, boxes), {where}", times["ours compact"],
               "cc3d multilabel + statistics, no masks", times["cc3d compact"])
    report.row(f"instances + a mask PNG each (as convert_case), {where}", times["ours pngs"],
               f"cc3d + a bool mask each + {peers.PNG_FASTEST_NAME}", times["cc3d pngs"])
    ratio = statistics.median(times["cc3d masks"]) / statistics.median(times["ours masks"])
    report.requirement(f"slice_instances with inst.mask >= 3x cc3d with masks, like for like: {ratio:.2f}x",
                       ratio >= 3)
    report.check("instances: the kernel's mask PNGs decode to slice_instances' masks", all(
        checks.png_round_trips(slice_instances_raw(s, with_pngs=True)["pngs"],
                               [i.mask.view(np.uint8) * np.uint8(255) for i in samed2d_fast.slice_instances(s)])
        for s in slices))
    report.check("instances: ours == slice_instances_ref (outer) on every slice",
                 all(checks.same_instances(samed2d_fast.slice_instances(s), slice_instances_ref(s)) for s in slices))
    off = [[(i.label, i.mask) for i in samed2d_fast.slice_instances(s, consolidate="off")] for s in slices]
    report.check("instances: cc3d and scipy peers == ours with consolidate='off'",
                 all(checks.same_masks_any_order(o, peers.instances_cc3d(s))
                     and checks.same_masks_any_order(o, peers.instances_scipy(s)) for o, s in zip(off, slices)))


def bench_png(case, repeats, report):
    slices = inputs.label_slices(case.labels, SLICE_STEP)
    masks = [i.mask for s in slices for i in samed2d_fast.slice_instances(s)]
    normed = samed2d_fast.normalize(case.image)
    images = [np.ascontiguousarray(normed[:, :, k].T[::-1, ::-1]) for k in range(0, normed.shape[2], SLICE_STEP)]
    writers = {"Pillow save (default)": peers.png_pillow, "Pillow compress_level=1": peers.png_pillow_fast}
    if peers.cv2 is not None:
        writers["cv2.imencode"] = peers.png_cv2
    sizes = ["| what | writer | bytes | ours / writer |", "|---|---|---:|---:|"]
    for what, ours_fn, items, as_u8 in (
        (f"{len(masks)} masks", encode_mask_png, masks, lambda m: m.view(np.uint8) * np.uint8(255)),
        (f"{len(images)} images", encode_png, images, lambda px: px),
    ):
        log(f"PNG {what}")
        stage = f"PNG encode, {what}"
        ours_ms = median_ms(lambda: [ours_fn(x) for x in items], repeats)
        ours_png = [ours_fn(x) for x in items]
        expected = [as_u8(x) for x in items]
        report.check(f"PNG {what}: ours decodes to the same pixels ({', '.join(checks.decoders())})",
                     checks.png_round_trips(ours_png, expected))
        ours_bytes = sum(map(len, ours_png))
        sizes.append(f"| {what} | ours | {ours_bytes} | 1.00 |")
        for name, writer in writers.items():
            report.row(stage, ours_ms, name, median_ms(lambda: [writer(as_u8(x)) for x in items], repeats))
            theirs = [writer(u8) for u8 in expected]
            report.check(f"PNG {what}: {name} decodes to the same pixels", checks.png_round_trips(theirs, expected))
            theirs_bytes = sum(map(len, theirs))
            sizes.append(f"| {what} | {name} | {theirs_bytes} | {ours_bytes / theirs_bytes:.2f} |")
    report.sections.append(("PNG sizes", sizes))


def bench_case(case, paths, repeats, root, report):
    shape = "x".join(map(str, case.image.shape))
    results = {}
    for key, (name, run) in PIPELINES.items():
        log(f"whole case: {name}")
        ms, out, result = timed_case(lambda o: run(*paths, o, case.class_names), repeats, root, key)
        results[key] = (ms, out, result)
    ours_ms, ours_out, record = results["ours"]
    counts = {k: sum(1 for _ in out.rglob("*.png")) for k, (_, out, _) in results.items()}
    stage = f"whole case {shape}, one worker ({counts['ours']} PNGs)"
    for key in ("plain", "cc3d"):
        report.row(stage, ours_ms, f"{PIPELINES[key][0]} ({counts[key]} PNGs)", results[key][0])
    _, plain_out, plain_index = results["plain"]
    report.check("whole case: ours' record lists the same images and masks as write_case_ref",
                 record.images == plain_index)
    problems = checks.same_png_trees(ours_out, plain_out)
    report.check("whole case: ours writes the same files and pixels as write_case_ref"
                 + (f" ({len(problems)} problems, e.g. {problems[:3]})" if problems else ""), not problems)
    for _, out, _ in results.values():
        shutil.rmtree(out)
    return ours_ms, counts["ours"], results["cc3d"][0]


def run_ours_release(image, label, out, class_names):
    return samed2d_fast.convert_case(
        image, label, out, dataset=DATASET, modality=MODALITY, case=CASE, class_names=class_names,
        normalization="slice", rgb=True, consolidate="union", unnamed="unknown",
    )


def run_cc3d_release(image, label, out, class_names):
    return peers.convert_case_cc3d(image, label, out, dataset=DATASET, modality=MODALITY, case=CASE, release=True)


def bench_release(case, paths, repeats, root, report):
    """The release preset (SPEC 7) against the paper preset and a release peer, in turn
    within each repeat; its images against SPEC 7's formula written out in numpy."""
    runs = {"paper": run_ours, "release": run_ours_release, "peer": run_cc3d_release}
    outs = {name: root / f"release-{name}" for name in runs}

    log("whole case: paper preset, release preset, release peer (interleaved)")
    times = interleaved_ms({name: into_new_folder(run, paths, outs[name], case.class_names)
                            for name, run in runs.items()}, repeats)
    ms = {name: statistics.median(t) for name, t in times.items()}
    shape = "x".join(map(str, case.image.shape))
    stage = f"whole case {shape}, --preset release, one worker"
    report.row(stage, times["release"], "numpy per-slice formula + cc3d + cv2.imencode of RGB", times["peer"])
    report.row(stage, times["release"], "ours, --preset paper (same case)", times["paper"])
    report.requirement(f"release preset <= 1.3x the paper preset: {ms['release'] / ms['paper']:.2f}x",
                       ms["release"] <= 1.3 * ms["paper"])
    report.requirement(f"release preset >= 4x the release peer: {ms['peer'] / ms['release']:.2f}x",
                       ms["peer"] >= 4 * ms["release"])
    scaled = nib.as_closest_canonical(nib.load(str(paths[0]))).get_fdata()
    images = sorted((outs["release"] / "images").iterdir())[::25]
    report.check("release preset: every 25th image equals SPEC 7's formula on its slice (numpy)", all(
        checks.release_image_matches(path, scaled) for path in images))
    for out in outs.values():
        shutil.rmtree(out, ignore_errors=True)


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def parallel_ceiling(n: int = 20_000_000) -> float:
    """What a second core gives on this machine: the same pure-CPU work in two processes
    at once against one after the other (2.0 on two free cores; less where the cores are
    SMT siblings or the host takes them)."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # both workers started
        start = time.perf_counter()
        pool.apply(_spin, (n,))
        pool.apply(_spin, (n,))
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        return sequential / (time.perf_counter() - start)


def bench_parallel(case, paths, root, report, n_cases=4):
    """``samed2d convert`` over several copies of the case: one worker, ``-j 2``, and
    ``--threads 2`` inside one worker; throughput next to the single-thread figure."""
    src = root / "parallel_src"
    for sub in ("imagesTr", "labelsTr"):
        (src / sub).mkdir(parents=True)
    for i in range(n_cases):  # hard links: symbolic links to one file are one case to the run (its real path)
        os.link(paths[0], src / "imagesTr" / f"c{i}_0000.nii.gz")
        os.link(paths[1], src / "labelsTr" / f"c{i}.nii.gz")
    labels = {"background": 0, **{name: int(v) for v, name in case.class_names.items()}}
    (src / "dataset.json").write_text(json.dumps({"name": "bench", "channel_names": {"0": "CT"}, "labels": labels}))
    rows = ["| run | seconds | images/s | masks/s | speed-up |", "|---|---:|---:|---:|---:|"]
    base = None
    for label, extra in (("-j 1", ["-j", "1"]), ("-j 2", ["-j", "2"]), ("-j 1 --threads 2", ["-j", "1", "--threads", "2"])):
        out = root / "parallel_out"
        log(f"samed2d convert {label} over {n_cases} cases")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(["convert", str(src), str(out), "--no-progress", *extra])
        seconds = time.perf_counter() - start
        summary = json.loads((out / "summary.json").read_text())
        report.check(f"samed2d convert {label}: exit 0, {n_cases} cases converted",
                     status == 0 and summary["cases"] == n_cases)
        base = base or seconds
        rows.append(f"| `{label}` | {seconds:.2f} | {summary['images'] / seconds:.0f} | "
                    f"{summary['masks'] / seconds:.0f} | {base / seconds:.2f} |")
        shutil.rmtree(out)
    ceiling = parallel_ceiling()
    rows += ["", f"The machine's ceiling: pure-CPU work in two processes at once runs {ceiling:.2f}x as fast as "
                 "one after the other (2.00 on two free cores), measured after the runs above."]
    report.sections.append((f"Throughput over {n_cases} cases (whole runs, metadata included)", rows))


# ---- the input readers (issue 11) -------------------------------------------------------


def _nibabel_case(image, label):
    """Peer for .nii.gz: nibabel's stored values (np.asanyarray(dataobj), zlib inflation)."""
    for path in (image, label):
        np.count_nonzero(np.asanyarray(nib.load(path).dataobj))


def _sitk_case(image, label):
    """Peer for ITK files and DICOM series: SimpleITK's reader and GetArrayFromImage (a copy)."""
    import SimpleITK as sitk

    for path in (image, label):
        if Path(path).is_dir():
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path)))
            itk = reader.Execute()
        elif str(path).endswith((".nii", ".nii.gz")):
            np.count_nonzero(np.asanyarray(nib.load(path).dataobj))
            continue
        else:
            itk = sitk.ReadImage(str(path))
        np.count_nonzero(sitk.GetArrayFromImage(itk))


def _bytes_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir()) if path.is_dir() else path.stat().st_size


def _read_steps(spec) -> tuple:
    """Cumulative ms of reading one case: case_headers, + read_case, + a pass over the
    arrays (inputs.read_one_case's steps, timed one by one)."""
    t0 = time.perf_counter()
    headers = case_headers(spec)
    t1 = time.perf_counter()
    arrays = read_case(spec, headers)
    t2 = time.perf_counter()
    for channel in arrays.channels:
        np.count_nonzero(channel.data)
    np.count_nonzero(arrays.label)
    t3 = time.perf_counter()
    return tuple(1e3 * (t - t0) for t in (t1, t2, t3))


def _size_note(shape) -> str:
    return "" if tuple(shape) == inputs.FULL_SHAPE else (
        f" [measured at {'x'.join(map(str, shape))}; the issue means 512x512x300, where per-file costs weigh less]")


def bench_readers(case, containers: dict, repeats, report):
    """One case (image + label) read through samed2d_fast.inputs from each container, in
    turn within each repeat; issue 11: an uncompressed .mha/.nrrd case is read no slower
    than the same case as .nii.gz."""
    shape = "x".join(map(str, case.image.shape))
    specs = {name: inputs.case_spec(image, label, case.class_names) for name, (image, label) in containers.items()}
    log(f"reading one {shape} case from {len(specs)} containers")
    steps = {name: [] for name in specs}
    for _ in range(repeats):
        for name, spec in specs.items():
            steps[name].append(_read_steps(spec))
    headers, untouched, read = ({name: statistics.median(r[k] for r in runs) for name, runs in steps.items()}
                                for k in range(3))
    peers_ms = {
        "nibabel": median_ms(lambda: _nibabel_case(*containers["nii.gz"]), repeats),
        **{name: median_ms(lambda c=containers[name]: _sitk_case(*c), repeats)
           for name in containers if name not in ("nii.gz", "nii")},
    }
    base = read["nii.gz"]
    stage = f"read one case {shape} (int16 + uint8) from {{}}: case_headers + read_case + a pass over the arrays"
    for name in containers:
        if name != "nii.gz":
            report.row(stage.format(name), read[name], ".nii.gz, the same reader", base)
        if name in peers_ms:
            what = ("SimpleITK ImageSeriesReader + GetArrayFromImage" if name == "dicom series"
                    else "SimpleITK ReadImage + GetArrayFromImage (a copy)")
            report.row(stage.format(name), read[name], what, peers_ms[name])
    report.row(stage.format("nii.gz"), base, "nibabel: np.asanyarray(dataobj), zlib", peers_ms["nibabel"])
    lines = [("| container | files (MB) | case_headers (ms) | + read_case (ms) | + a pass over the arrays (ms) "
              "| time / .nii.gz's |"), "|---|---:|---:|---:|---:|---:|"]
    for name, (image, label) in containers.items():
        size = _bytes_of(Path(image)) + (_bytes_of(Path(label)) if name != "dicom series" else 0)
        label_note = " (label .nii.gz, not counted)" if name == "dicom series" else ""
        lines.append(f"| {name}{label_note} | {size / 1e6:.1f} | {fmt_ms(headers[name])} | "
                     f"{fmt_ms(untouched[name])} | {fmt_ms(read[name])} | {read[name] / base:.2f} |")
    lines += ["", ("Times are cumulative within one read; the pass over the arrays makes memory-mapped (.nii) and "
                   "viewed (ITK) voxels really read. Peers (table above) make the same pass.")]
    report.sections.append((f"Reading one {shape} case, by container (samed2d_fast.inputs, medians of {repeats})",
                            lines))
    reference = read_case(specs["nii.gz"], case_headers(specs["nii.gz"]))
    report.check(f"readers: the .nii.gz case reads as the benchmark case ({shape})",
                 np.array_equal(reference.channels[0].ras(reference.channels[0].data),
                                inputs.ras(case.image, case.affine))
                 and np.array_equal(reference.label, inputs.ras(case.labels, case.affine)))
    for name, spec in specs.items():
        if name != "nii.gz":
            report.check(f"readers: {name} gives the arrays of .nii.gz",
                         checks.same_case_arrays(read_case(spec, case_headers(spec)), reference))
    for name in ("mha", "nrrd"):
        if name in read:
            text, holds = checks.not_slower(f"an uncompressed .{name} case ({shape})", read[name],
                                            "the same case as .nii.gz", base)
            report.requirement(text + _size_note(case.image.shape), holds)


def bench_label_set(case, repeats, root, report):
    """A TotalSegmentator-like label set: the time to decompress its class files alone (the
    package's reader, file by file) and read_case's (decompress + paint), in turn within
    each repeat; issue 11: painting adds at most 0.5x the decompression time."""
    ls_case = inputs.label_set_case(case)
    shape = "x".join(map(str, case.image.shape))
    folder = root / "label_set"
    log(f"writing a label set of {len(ls_case.class_names)} class files {shape}")
    folder.mkdir()
    # The image as .nii: memory-mapped, its read costs next to nothing (it is timed and
    # subtracted all the same), so read_case's time is the label set's.
    image = folder / "ct.nii"
    nib.save(nib.Nifti1Image(ls_case.image, ls_case.affine), image)
    files = inputs.write_label_set(ls_case, folder / "segmentations")
    spec = inputs.case_spec(image, files, ls_case.class_names)
    start = time.perf_counter()
    headers = case_headers(spec)
    headers_ms = 1e3 * (time.perf_counter() - start)
    n = len(headers.labels)

    def one_call_gunzip():
        for h in headers.labels:
            isal_gzip.decompress(Path(h.path).read_bytes())

    repeats = min(repeats, 3)  # about 40 s a repeat at 512x512x300
    log(f"label set: decompressing and painting, {repeats} repeats")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    image_header = headers.images[0]
    t = interleaved_ms({
        "image": lambda: image_header.fmt.read(image_header, label=False, scaled=False),
        "decompress": lambda: inputs.decompress_class_files(headers),
        "read_case": lambda: read_case(spec, headers),
        "decompress_2": lambda: inputs.decompress_class_files(headers, threads=2),
        "read_case_2": lambda: read_case(spec, headers, threads=2),
        "gunzip": one_call_gunzip,
    }, repeats)
    med = {k: statistics.median(v) for k, v in t.items()}
    # painting (everything read_case does beyond reading the files), repeat by repeat
    paint = [b - a - i for a, b, i in zip(t["decompress"], t["read_case"], t["image"])]
    paint_ratio = statistics.median(p / a for p, a in zip(paint, t["decompress"]))
    paint_2 = [b - a - i for a, b, i in zip(t["decompress_2"], t["read_case_2"], t["image"])]
    what = f"label set, {n} class files {shape}"
    report.row(f"{what}: read_case, 1 thread (decompress + paint)", med["read_case"],
               "decompressing the class files only (the package's reader)", med["decompress"])
    report.row(f"{what}: read_case, threads=2", med["read_case_2"], "read_case, 1 thread", med["read_case"])
    report.row(f"{what}: decompress each (inputs.gunzip: ISA-L, bounded, chunked)", med["decompress"],
               "isal igzip.decompress of each file (one call)", med["gunzip"])
    mib = ls_case.labels.nbytes / 2**20
    paint_ratio_2 = statistics.median(p / a for p, a in zip(paint_2, t["decompress_2"]))
    lines = [
        "| step | 1 thread (ms) | threads=2 (ms) |", "|---|---:|---:|",
        f"| case_headers ({n + 1} headers, once) | {fmt_ms(headers_ms)} | |",
        (f"| (a) decompress the {n} class files ({mib:.0f} MiB each; the package's reader) | "
         f"{fmt_ms(med['decompress'])} | {fmt_ms(med['decompress_2'])} |"),
        f"| (i) read the image (.nii, memory-mapped) | {fmt_ms(med['image'])} | |",
        f"| (b) read_case (decompress + paint) | {fmt_ms(med['read_case'])} | {fmt_ms(med['read_case_2'])} |",
        f"| painting: b - a - i | {fmt_ms(statistics.median(paint))} | {fmt_ms(statistics.median(paint_2))} |",
        (f"| painting / decompression (median of repeats; at most {checks.PAINT_OVER_DECOMPRESSION_MAX}) | "
         f"{paint_ratio:.2f} | {paint_ratio_2:.2f} |"),
        (f"| per class file: decompress / read_case | {fmt_ms(med['decompress'] / n)} / "
         f"{fmt_ms(med['read_case'] / n)} | {fmt_ms(med['decompress_2'] / n)} / {fmt_ms(med['read_case_2'] / n)} |"),
        "",
        (f"{ls_case.source}; files written as nib.save writes them (gzip level 1), "
         f"{sum(p.stat().st_size for p in files.values()) / 1e6:.1f} MB in all; medians of {repeats} repeats, "
         f"each step in turn within a repeat; load average {load:.1f} before (threads=2 needs a free core). "
         f"threads=2 speed-up of read_case: {med['read_case'] / med['read_case_2']:.2f}x."),
    ]
    report.sections.append((f"Label set: painting next to decompression ({n} class files {shape})", lines))
    text, holds = checks.painting_requirement(paint_ratio, statistics.median(paint), med["decompress"], n)
    report.requirement(text + _size_note(case.image.shape), holds)
    expected = inputs.ras(ls_case.labels, ls_case.affine)
    one, two = read_case(spec, headers).label, read_case(spec, headers, threads=2).label
    report.check(f"label set: read_case paints the label map the {n} files were split from",
                 one is not None and np.array_equal(one, expected))
    report.check("label set: threads=2 paints the same label map", two is not None and np.array_equal(two, one))
    shutil.rmtree(folder)


# ---- where our time goes ----------------------------------------------------------------


def ours_by_stage(image_path, label_path, out: Path) -> dict:
    """convert_case's steps, called one by one through the package's functions, timed.

    The kernel encodes mask PNGs in the same call that finds the instances; it is also
    called without PNGs to split the two. Naming and the record are left out (they
    land in 'other'); files get plain names.
    """
    seconds = defaultdict(float)
    clock = time.perf_counter
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True)
    t0 = clock()
    image_header, label_header = sio.load_nifti_header(image_path), sio.load_nifti_header(label_path)
    label = sio.label_volume(label_header, label_path)
    volume = sio.image_volume(image_header, image_path)
    check_same_grid(volume, label)
    labels = label.ras()
    t1 = clock()
    image = volume.ras(samed2d_fast.normalize(volume.data))
    seconds["read"], seconds["normalise"] = t1 - t0, clock() - t1
    for axis in kept_axes(labels.shape):
        batches = iter_display_slices([labels, image], axis)
        while True:
            t0 = clock()
            item = next(batches, None)
            t1 = clock()
            seconds["slice (batched copies)"] += t1 - t0
            if item is None:
                break
            index, (label_slice, pixels) = item
            slice_instances_raw(label_slice, with_components=False)
            t2 = clock()
            raw = slice_instances_raw(label_slice, with_components=False, with_pngs=True)
            t3 = clock()
            seconds["instances"] += t2 - t1
            seconds["encode masks (same kernel call)"] += (t3 - t2) - (t2 - t1)
            if not raw["pngs"]:
                continue
            image_png = encode_png(pixels)
            t4 = clock()
            write_atomic(out / "images" / f"{axis}_{index}.png", image_png)
            for i, data in enumerate(raw["pngs"]):
                write_atomic(out / "masks" / f"{axis}_{index}--{i:03d}.png", data)
            seconds["encode images"] += t4 - t3
            seconds["write"] += clock() - t4
    return dict(seconds)


def bench_breakdown(paths, repeats, root, total_ms, total_pngs, report):
    log("breakdown of our whole case")
    runs = []
    for r in range(repeats):
        out = root / f"stages-{r}"
        runs.append(ours_by_stage(*paths, out))
        pngs = sum(1 for _ in out.rglob("*.png"))
        shutil.rmtree(out)
    report.check("breakdown: the step-by-step run writes as many PNGs as convert_case", pngs == total_pngs)
    medians = {stage: 1e3 * statistics.median(run[stage] for run in runs) for stage in runs[0]}
    medians["other (naming, record, glue)"] = total_ms - sum(medians.values())
    lines = ["| stage | ms | share of convert_case |", "|---|---:|---:|"]
    lines += [f"| {stage} | {fmt_ms(ms)} | {100 * ms / total_ms:.0f}% |" for stage, ms in medians.items()]
    lines.append(f"| convert_case (measured) | {fmt_ms(total_ms)} | 100% |")
    report.sections.append(("Where our whole-case time goes", lines))


def hardware_floor(image_path, label_path, root: Path) -> dict:
    """Seconds of the least work any converter of this case must do, each done the
    fastest way at hand: ISA-L gunzip of both files, level-1 deflate of every written
    image's pixels as one stream, run-encoding every mask (the package's run encoder),
    cc3d labelling of every label slice, and creating as many empty files as PNGs."""
    from isal import isal_zlib

    seconds = defaultdict(float)
    clock = time.perf_counter
    t0 = clock()
    for path in (image_path, label_path):
        isal_gzip.decompress(Path(path).read_bytes())
    seconds["ISA-L gunzip of both files"] = clock() - t0
    image_header, label_header = sio.load_nifti_header(image_path), sio.load_nifti_header(label_path)
    labels = sio.label_volume(label_header, label_path).ras()
    volume = sio.image_volume(image_header, image_path)
    image = volume.ras(samed2d_fast.normalize(volume.data))
    pixels, files = [], 0
    for axis in kept_axes(labels.shape):
        for _, (label_slice, image_slice) in iter_display_slices([labels, image], axis):
            t0 = clock()
            peers.cc3d.connected_components(label_slice, connectivity=8)
            seconds["cc3d labelling of every label slice"] += clock() - t0
            masks = [m for _, m in peers.instances_cc3d(label_slice)]
            if not masks:
                continue
            pixels.append(image_slice.tobytes())
            t0 = clock()
            for mask in masks:
                encode_mask_png(mask)
            seconds["run-encoding every mask"] += clock() - t0
            files += 1 + len(masks)
    stream = b"".join(pixels)
    t0 = clock()
    isal_zlib.compress(stream, 1)
    seconds["level-1 deflate of all image pixels as one stream"] = clock() - t0
    folder = root / "floor-files"
    folder.mkdir()
    t0 = clock()
    for i in range(files):
        os.close(os.open(folder / f"{i}.png", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    seconds[f"creating {files} empty files"] = clock() - t0
    shutil.rmtree(folder)
    return dict(seconds)


def bench_floor(paths, repeats, root, total_ms, peer_ms, report):
    """The hardware floor beside the whole case (issue 13's target: within 1.3x of it, and
    6x the strongest peer)."""
    log("the hardware floor of the whole case")
    runs = [hardware_floor(*paths, root) for _ in range(repeats)]
    medians = {part: 1e3 * statistics.median(run[part] for run in runs) for part in runs[0]}
    floor = sum(medians.values())
    lines = ["| part of the floor | ms |", "|---|---:|"]
    lines += [f"| {part} | {fmt_ms(ms)} |" for part, ms in medians.items()]
    lines.append(f"| floor (sum) | {fmt_ms(floor)} |")
    lines.append(f"| convert_case, one worker | {fmt_ms(total_ms)} ({total_ms / floor:.2f}x the floor) |")
    report.sections.append(("The hardware floor of the whole case", lines))
    report.requirement(f"whole case within 1.3x of the floor: {total_ms / floor:.2f}x", total_ms <= 1.3 * floor)
    report.requirement(f"whole case >= 6x the strongest peer (cc3d + numpy + cv2): {peer_ms / total_ms:.2f}x",
                       peer_ms >= 6 * total_ms)


# ---- peak memory ----------------------------------------------------------------------


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


# every whole-case run by key, so that a spawned child can find it
RUNS = {**{key: run for key, (_, run) in PIPELINES.items()}, "ours release": run_ours_release}


def _peak_in_child(key, image, label, out, class_names):
    """Runs in a fresh spawned process: peak RSS while converting, minus RSS before reading.

    VmHWM, not ru_maxrss: after exec, ru_maxrss still counts the parent's RSS at fork
    time (the parent holds the benchmark volumes), VmHWM is this process's own peak.
    """
    before = _status_bytes("VmRSS")
    RUNS[key](image, label, Path(out), class_names)
    return _status_bytes("VmHWM") - before


def peak_bytes(key, paths, class_names, out: Path) -> int:
    """Peak memory of RUNS[key] on one case, in a fresh spawned process; ``out`` is removed."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        peak = pool.apply(_peak_in_child, (key, *paths, str(out), class_names))
    shutil.rmtree(out)
    return peak


def bench_memory(case, paths, root, report):
    lines = ["| pipeline | peak RSS - RSS before reading (MB) | decoded image + labels (MB) | ratio |",
             "|---|---:|---:|---:|"]
    decoded = case.decoded_bytes
    for key, (name, _) in PIPELINES.items():
        log(f"peak memory: {name}")
        peak = peak_bytes(key, paths, case.class_names, root / f"memory-{key}")
        lines.append(f"| {name} | {peak / 1e6:.0f} | {decoded / 1e6:.0f} | {peak / decoded:.2f} |")
    report.sections.append(("Peak memory of one case (fresh spawned process)", lines))


# ---- the whole-body case ----------------------------------------------------------------


def png_pixels(folder: Path) -> int:
    """Pixels of every PNG under ``folder``, from each IHDR (width and height at bytes 16-24)."""
    total = 0
    for path in folder.rglob("*.png"):
        with open(path, "rb") as f:
            head = f.read(24)
        total += int.from_bytes(head[16:20], "big") * int.from_bytes(head[20:24], "big")
    return total


def bench_whole_body(case, paths, shape, repeats, root, report):
    """A whole-body case (``shape``, 117 classes) beside the benchmark case, both presets
    timed in turn within each repeat: time per written pixel (images and masks) of the
    big case against the small one's, per stage too, and both presets' peak memory on
    the big case against its decoded arrays."""
    log(f"making the {'x'.join(map(str, shape))} whole-body case")
    body = inputs.whole_body_case(shape)
    body_paths = inputs.write_nifti_case(body, root / "whole-body-input")
    cases = {"benchmark": (case, paths), "whole body": (body, body_paths)}
    presets = {"paper": "ours", "release": "ours release"}
    outs = {(c, p): root / f"scaling-{c.replace(' ', '-')}-{p}" for c in cases for p in presets}

    log("whole-body case and benchmark case, paper and release presets (interleaved)")
    times = interleaved_ms({(c, p): into_new_folder(RUNS[presets[p]], cases[c][1], out, cases[c][0].class_names)
                            for (c, p), out in outs.items()}, repeats)
    pixels = {key: png_pixels(out) for key, out in outs.items()}
    pngs = {key: sum(1 for _ in out.rglob("*.png")) for key, out in outs.items()}
    per_pixel = {key: 1e6 * statistics.median(times[key]) / pixels[key] for key in outs}  # ns
    lines = ["| case | preset | ms (median, min-max) | PNGs | megapixels written | ns per written pixel |",
             "|---|---|---:|---:|---:|---:|"]
    for (c, p), ms in times.items():
        grid = "x".join(map(str, cases[c][0].image.shape))
        lines.append(f"| {c} {grid} | {p} | {_cell(ms)} | {pngs[c, p]} | {pixels[c, p] / 1e6:.0f} | "
                     f"{per_pixel[c, p]:.2f} |")
    for p in presets:
        ratio = per_pixel["whole body", p] / per_pixel["benchmark", p]
        report.requirement(f"whole-body case, {p} preset: time per written pixel within 15% of the benchmark "
                           f"case's: {ratio:.2f}x", ratio <= 1.15)
    for out in outs.values():
        shutil.rmtree(out)

    log("breakdown of both cases")
    stages = {}
    for c, (_, files) in cases.items():
        out = root / f"scaling-stages-{c.replace(' ', '-')}"
        stages[c] = ours_by_stage(*files, out)
        shutil.rmtree(out)
    lines += ["", "| stage (paper preset, one run) | benchmark (ns per written pixel) | whole body | ratio |",
              "|---|---:|---:|---:|"]
    for stage, seconds in stages["benchmark"].items():
        small = 1e9 * seconds / pixels["benchmark", "paper"]
        big = 1e9 * stages["whole body"][stage] / pixels["whole body", "paper"]
        lines.append(f"| {stage} | {small:.2f} | {big:.2f} | {big / small:.2f} |")

    decoded = body.decoded_bytes
    lines += ["", "| preset | peak RSS - RSS before reading, whole body (MB) | decoded image + labels (MB) | ratio |",
              "|---|---:|---:|---:|"]
    for p, key in presets.items():
        log(f"peak memory of the whole-body case: {p} preset")
        peak = peak_bytes(key, body_paths, body.class_names, root / f"scaling-memory-{p}")
        lines.append(f"| {p} | {peak / 1e6:.0f} | {decoded / 1e6:.0f} | {peak / decoded:.2f} |")
        report.requirement(f"whole-body case, {p} preset: peak memory <= 2x the decoded arrays: "
                           f"{peak / decoded:.2f}x", peak <= 2 * decoded)
    shutil.rmtree(root / "whole-body-input")
    report.sections.append((f"A whole-body case ({body.source} {len(body.class_names)} classes)", lines))


# ---- report ---------------------------------------------------------------------------


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", load average %.1f at start" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    return [
        f"machine: {cpu}, {os.cpu_count()} cores ({usable} usable){load}; "
        f"Python {platform.python_version()}, numpy {np.__version__}",
        "versions: " + ", ".join(
            f"{d} {_version(d)}" for d in
            ("samed2d_fast", "scipy", "connected-components-3d", "Pillow", "opencv-python-headless", "nibabel")
        ),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a {'x'.join(map(str, inputs.QUICK_SHAPE))} case and 3 repeats (CI)")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument("--workdir", type=Path, default=inputs.default_workdir(),
                        help="where inputs and outputs are written (default: %(default)s)")
    parser.add_argument("--require-timings", action="store_true",
                        help="also exit 1 when a timing requirement does not hold (reported only, by default)")
    args = parser.parse_args(argv)
    shape, repeats = (inputs.QUICK_SHAPE, 3) if args.quick else (inputs.FULL_SHAPE, 7)

    log(f"making the {'x'.join(map(str, shape))} case")
    case = inputs.make_ct_case(shape)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="samed2d-bench-", dir=args.workdir) as tmp:
        root = Path(tmp)
        paths = inputs.write_nifti_case(case, root / "input")
        bench_normalize(case, repeats, report)
        bench_instances(case, repeats, report)
        bench_png(case, repeats, report)
        total_ms, total_pngs, cc3d_ms = bench_case(case, paths, repeats, root, report)
        bench_release(case, paths, repeats, root, report)
        bench_breakdown(paths, repeats, root, total_ms, total_pngs, report)
        bench_floor(paths, repeats, root, total_ms, cc3d_ms, report)
        bench_memory(case, paths, root, report)
        bench_whole_body(case, paths, inputs.WHOLE_BODY_QUICK_SHAPE if args.quick else inputs.WHOLE_BODY_SHAPE,
                         repeats, root, report)
        bench_parallel(case, paths, root, report)
        # the input readers: the full case, or in --quick a larger one than the stages'
        readers_case = inputs.make_ct_case(inputs.READERS_QUICK_SHAPE) if args.quick else case
        log(f"writing the {'x'.join(map(str, readers_case.image.shape))} case in every container")
        containers = inputs.write_containers(readers_case, root / "containers",
                                             nifti=None if args.quick else paths)
        bench_readers(readers_case, containers, repeats, report)
        shutil.rmtree(root / "containers")
        bench_label_set(readers_case, repeats, root, report)

    present = len(np.unique(case.labels)) - 1
    lines = [f"# samed2d_fast benchmark ({'quick' if args.quick else 'full'})", "", *machine_facts(),
             f"input: {case.source}: int16 CT + uint8 labels, {present} classes present, "
             f"{case.decoded_bytes / 1e6:.0f} MB decoded; medians of {repeats} repeats; files written under "
             f"{args.workdir}", "",
             *report.table(), "", "ratio = peer / ours: above 1, ours is faster.", ""]
    for title, section in report.sections:
        lines += [f"## {title}", "", *section, ""]
    lines += ["## Timing requirements (reported; failing only with --require-timings)", ""]
    lines += [f"- {'holds' if ok else 'DOES NOT HOLD'}: {what}" for what, ok in report.requirements]
    lines += ["", "## Checks", ""]
    lines += [f"- {'ok' if ok else 'MISMATCH'}: {what}" for what, ok in report.checks]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.markdown:
        args.markdown.write_text(text)
    timings_ok = not args.require_timings or all(ok for _, ok in report.requirements)
    return 0 if all(ok for _, ok in report.checks) and timings_ok else 1


if __name__ == "__main__":
    sys.exit(main())
