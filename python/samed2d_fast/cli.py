"""The ``samed2d`` command: bulk conversion of whole data sets, verification, a demo."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import __version__, runner
from .datasets import (
    Dataset,
    DatasetError,
    find_dataset,
    find_globs,
    load_class_map,
    load_class_names_file,
    name_collisions,
    option_modality_tags,
    overview,
)
from .options import Options
from .headers import check_case
from .inputs import DEFAULT_MAX_VOXELS, OVERLAPS
from .printable import printable
from .recipes import builtin_recipes, find_recipe, find_with_recipe
from .webdataset import parse_size

EXAMPLES_CONVERT = """\
examples:
  samed2d convert Task03_Liver/ out/                 # an MSD or nnU-Net raw data set
  samed2d convert Dataset027_ACDC/ Task01_BrainTumour/ out/ -j 8
  samed2d convert ISIC/ out/ --modality dermoscopy_00   # images/ + masks/ folders
  samed2d convert Task01_BrainTumour/ out/ --modality FLAIR,T1w,T1Gd,T2w
  samed2d convert --images 'raw/*_ct.nii.gz' --labels 'raw/*_seg.nii.gz' --modality CT out/
  samed2d convert Totalsegmentator_dataset_v201/ out/   # s0000/ct.nii.gz + segmentations/
  samed2d convert Dataset_BUSI_with_GT/ out/ --modality ultrasound_00
  samed2d convert --images 'scans/*/CT' --labels 'masks/*.nrrd' --modality CT out/   # DICOM series + NRRD
  samed2d convert kits19/data/ out/ --recipe kits19   # a public data set as downloaded ('samed2d recipes')
  samed2d convert Task03_Liver/ out/ --resume         # go on after an interruption
"""


class UsageError(Exception):
    """A problem with the command line; exits with status 2."""


def _workers(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tags(value: str) -> List[str]:
    tags = [t.strip() for t in value.split(",")]
    if not all(tags):
        raise argparse.ArgumentTypeError(f"empty tag in {value!r}")
    return tags


def _fraction(value: str) -> float:
    f = float(value)
    if not 0.0 <= f <= 1.0:
        raise argparse.ArgumentTypeError("must be within [0, 1]")
    return f


def _add_conversion_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("conversion (SPEC sections 3-5)")
    g.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                   help="connectivity of masks (default 8; holes use the complementary one)")
    g.add_argument("--consolidate", choices=("outer", "union", "off"), default="outer",
                   help="containment consolidation: outer (default) merges enclosed masks into the "
                        "enclosing one, union adds the united mask as an extra class, off does nothing")
    g.add_argument("--keep-empty", action="store_true", help="also write images that have no mask")
    g.add_argument("--rgb", action="store_true", help="write grey images as RGB with three equal channels")
    g.add_argument("--test-fraction", type=_fraction, default=0.2,
                   help="fraction of cases in label2image_test.json (default 0.2, split by case)")
    g.add_argument("--preset", choices=("paper", "release"), default="paper",
                   help="paper (default): the paper's method, volume-wise normalisation; release: what the "
                        "published files show: each slice normalised on its own, RGB images, "
                        "--consolidate union (SPEC section 7)")
    g.add_argument("--format", choices=("files", "webdataset"), default="files",
                   help="files (default): loose PNGs as the release; webdataset: tar shards, one sample "
                        "per image, packed when the metadata is written")
    g.add_argument("--shard-size", type=_size, default="1GB", metavar="SIZE",
                   help="approximate size of a WebDataset shard (default 1GB)")
    g.add_argument("--overlap", choices=OVERLAPS, default=None,
                   help="label sets (one mask file per class) whose classes overlap: error (default, unless the "
                        "--recipe says otherwise) fails the case naming them; separate converts each class as a "
                        "label map of its own (SPEC 8)")
    g.add_argument("--class-map", metavar="FILE",
                   help='class ids by name from a SAMed2D_v1_class_mapping_id.json-style file '
                        '({"dataset": {"class name": "0003"}}); classes it lacks get new ids, reported')


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("running")
    g.add_argument("-j", "--workers", type=_workers, default=os.cpu_count() or 1,
                   help="cases converted in parallel (default: the machine's cores)")
    g.add_argument("--threads", type=_workers, default=1,
                   help="slices converted at once inside each case (default 1); with -j, cores = j x threads")
    g.add_argument("--max-voxels", type=_workers, default=DEFAULT_MAX_VOXELS, metavar="N",
                   help=f"refuse a volume whose header claims more voxels (default {DEFAULT_MAX_VOXELS})")
    g.add_argument("--resume", action="store_true",
                   help="go on with an interrupted run in OUT: complete cases are kept")
    g.add_argument("--overwrite", action="store_true", help="remove an earlier run's output in OUT first")
    g.add_argument("--fail-fast", action="store_true", help="stop at the first case that fails")
    g.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local process pool (default), or Dask: a LocalCluster of --workers processes")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run each case as a task on this Dask cluster (tcp://host:8786); workers write "
                        "into OUT, which must be on a file system they share")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samed2d",
        description="Convert medical segmentation data sets into the SA-Med2D-20M layout "
                    "(images/, masks/, SAMed2D_v1.json, class mapping, SAM-Med2D split files).",
        epilog="Run 'samed2d COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"samed2d_fast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "convert", help="convert raw data sets (MSD, nnU-Net, 2D folders, globs) into OUT",
        description=textwrap.dedent("""\
            Convert raw data sets into the SA-Med2D-20M layout in OUT.
            Each SRC is detected by its shape: an MSD / nnU-Net v1 / v2 folder (dataset.json,
            imagesTr/, labelsTr/), a 2D folder (images/ and masks/ or labels/, matched by file
            stem), a TotalSegmentator folder (CASE/ct.nii.gz or mri.nii.gz with one mask file per
            class in CASE/segmentations/), or a BUSI folder (CLASS/NAME.png with CLASS/NAME_mask.png,
            NAME_mask_1.png, ...). Anything else: --images GLOB --labels GLOB, matched by case name,
            or --recipe: a public data set's layout as downloaded ('samed2d recipes' lists them).
            Images and labels may be NIfTI, Analyze, MetaImage, NRRD, DICOM (a series is its
            folder) or 2D files, in any mix."""),
        epilog=EXAMPLES_CONVERT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="SRC... OUT", help="source folders, then the output folder")
    p.add_argument("--images", metavar="GLOB", help="image files (with --labels), matched by case name")
    p.add_argument("--labels", metavar="GLOB", help="label files (with --images)")
    p.add_argument("--dataset", action="append", metavar="NAME",
                   help="data set name (default: dataset.json's name, else the folder's); repeat it to name "
                        "each SRC, in the order of the SRCs")
    p.add_argument("--modality", action="extend", type=_tags, metavar="TAG[,TAG...]",
                   help="modality: one tag, or one per channel, comma-separated (CT, MR, T1, T1Gd, T2, FLAIR, "
                        "ADC, DWI, PET, or a release tag such as ct_00, dermoscopy_00); "
                        "default: dataset.json's channels")
    p.add_argument("--class-names", metavar="FILE",
                   help='JSON class names, {"1": "liver"} or {"liver": 1} (default: dataset.json labels)')
    p.add_argument("--recipe", metavar="NAME|FILE",
                   help="read each SRC as a public data set is downloaded: a recipe name ('samed2d recipes' "
                        "lists them) or your own recipe file (.json)")
    p.add_argument("--dry-run", action="store_true",
                   help="list pairs, modalities, classes and slices per case from the headers only")
    g = p.add_argument_group("sharding (any scheduler: Slurm arrays, job lists, several machines)")
    g.add_argument("--num-shards", type=_workers, metavar="N",
                   help="split the cases into N shards (default: $SLURM_ARRAY_TASK_COUNT when set)")
    g.add_argument("--shard-index", type=int, metavar="I",
                   help="convert shard I only, 0-based (default: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN); "
                        "shards share OUT, then 'samed2d merge OUT' writes the final files")
    _add_conversion_options(p)
    _add_run_options(p)

    p = sub.add_parser(
        "recipes", help="list the recipes of the public data sets, or show one",
        description="List the recipes (one line each: name, modality, layout, how its facts were verified, "
                    "source), or show one recipe's file and, given the downloaded folder, the cases it finds there.",
        epilog="examples:\n  samed2d recipes\n  samed2d recipes --show kits19\n"
               "  samed2d recipes --show kits19 kits19/data/\n  samed2d convert kits19/data/ out/ --recipe kits19",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--show", metavar="NAME|FILE", help="print this recipe (a name, or a recipe file)")
    p.add_argument("root", nargs="?", metavar="ROOT", help="with --show: the downloaded folder to try it on")

    p = sub.add_parser(
        "verify", help="check that OUT is complete and consistent",
        description="Check OUT: every listed file exists and decodes, masks are 0/255 and of their "
                    "image's size, names parse, and no image or mask is unlisted. Exit 1 with a list otherwise.",
        epilog="examples:\n  samed2d verify out/\n  samed2d verify out/ --deep",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", metavar="OUT")
    p.add_argument("--deep", action="store_true",
                   help="also check every mask's area and box against the run's records, every record against "
                        "the settings OUT was started with, and the run state (locks, clearing, packing)")

    p = sub.add_parser(
        "merge", help="join the shards of a sharded run into the final JSON files",
        description="Write SAMed2D_v1.json, the class mapping, the split files, summary.json and "
                    "failures.json of OUT from the records every shard left there: the same bytes as "
                    "one unsharded run. Classes whose ids were pending get them now.",
        epilog="example (a Slurm array of 16 tasks, then one merge):\n"
               "  sbatch --array=0-15 --wrap 'samed2d convert Task03_Liver/ out/'\n"
               "  samed2d merge out/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", metavar="OUT")
    p.add_argument("--test-fraction", type=_fraction, default=None,
                   help="fraction of cases in label2image_test.json (default: the one the shards were run with)")
    p.add_argument("--partial", action="store_true",
                   help="merge although some cases have neither a record nor a failure (shards that did not "
                        "run or finish); summary.json lists them as missing")

    p = sub.add_parser(
        "preview", help="a contact sheet of images with their masks drawn over them",
        description="Draw a reproducible pick of OUT's images with their masks over them (one colour per "
                    "instance, outline and translucent fill, class name beside it) into one PNG: a glance "
                    "tells whether orientation, normalisation and masks are right.",
        epilog="examples:\n  samed2d preview out/ -o sheet.png\n"
               "  samed2d preview out/ --n 9 --dataset totalsegmentator_ct --class liver --seed 3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", metavar="OUT")
    p.add_argument("--n", type=_workers, default=16, help="images on the sheet (default 16)")
    p.add_argument("--dataset", help="only images of this data set")
    p.add_argument("--class", dest="class_name", metavar="CLASS", help="only images with a mask of this class")
    p.add_argument("--seed", type=int, default=0, help="which images are picked (default 0)")
    p.add_argument("--size", type=int, default=256, help="tile size in pixels (default 256)")
    p.add_argument("-o", "--output", default="preview.png", metavar="PNG", help="default: preview.png")

    p = sub.add_parser(
        "report", help="a Markdown report with plots of OUT (the paper's section 3 figures)",
        description="Write report.md with PNG plots: images and masks per modality (Table 1), masks per "
                    "class on a log scale (the long tail), masks per image, mask areas, slices per axis, "
                    "and the declared classes that have no mask. Needs matplotlib: "
                    "pip install 'samed2d_fast[report]'.",
        epilog="example:\n  samed2d report out/ -o report/", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", metavar="OUT")
    p.add_argument("-o", "--output", default="report", metavar="FOLDER", help="default: ./report")

    p = sub.add_parser(
        "demo", help="convert a synthetic phantom (no download) to see the whole job",
        description="Write a synthetic CT phantom (nnU-Net layout) and a 2D colour data set into "
                    "OUT/raw, convert both into OUT/SAMed2Dv1 exactly as 'convert' does, and verify it.",
        epilog="examples:\n  samed2d demo\n  samed2d demo /tmp/demo -j 2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", default="samed2d_demo", metavar="OUT", help="default: ./samed2d_demo")
    _add_conversion_options(p)
    _add_run_options(p)
    return parser


# ---- convert -------------------------------------------------------------------------


def _datasets_from_args(args, sources: Sequence[str], recipe) -> Tuple[List[Dataset], Dict[str, str]]:
    """The data sets to convert, and the SRC folders that could not be read (with
    several SRCs the readable ones still run; with one, its error ends the command).
    ``--dataset`` names the SRCs in order, one name each."""
    class_names = load_class_names_file(args.class_names) if args.class_names else None
    if args.modality:
        option_modality_tags(args.modality)  # an unknown word fails once, not once per SRC
    names = args.dataset or []
    if any(not name.strip() for name in names):
        raise UsageError("--dataset: a data set name cannot be empty")
    if args.images or args.labels:
        if args.recipe is not None:
            raise UsageError("--recipe reads SRC folders: give it without --images/--labels")
        if not (args.images and args.labels):
            raise UsageError("--images and --labels go together")
        if sources:
            raise UsageError("give either SRC folders or --images/--labels, not both")
        if len(names) > 1:
            raise UsageError(f"--dataset given {len(names)} times: --images/--labels make one data set")
        return [find_globs(args.images, args.labels, names[0] if names else None, args.modality, class_names)], {}
    if not sources:
        raise UsageError("no SRC given: samed2d convert SRC [SRC...] OUT")
    if names and len(names) != len(sources):
        raise UsageError(f"--dataset given {len(names)} time(s) for {len(sources)} SRC folders: "
                         f"give one name per SRC, in the order of the SRCs")
    names = names or [None] * len(sources)

    def find(source, name):
        if recipe is not None:
            return find_with_recipe(source, recipe, name=name, modality=args.modality, class_names=class_names)
        return find_dataset(source, name=name, modality=args.modality, class_names=class_names)

    if len(sources) == 1:
        return [find(sources[0], names[0])], {}
    datasets, failed = [], {}
    for source, name in zip(sources, names):
        try:
            datasets.append(find(source, name))
        except DatasetError as exc:
            failed[str(source)] = str(exc)
            print(f"samed2d convert: error: {printable(str(exc))}", file=sys.stderr)
    return datasets, failed


def _dry_run(datasets: List[Dataset], max_voxels: int) -> int:
    """Lists each data set and case, and makes every check of the run that headers and file
    sizes decide, with the run's messages; 1 when a case would fail."""
    ok = True
    for ds in datasets:
        print("\n".join(overview(ds)))
        ok = ok and not ds.failed
        for spec in ds.cases:
            try:
                info = check_case(spec, max_voxels)
            except (ValueError, OSError) as exc:
                ok = False
                print(f"  {printable(spec.case)}: ERROR {printable(str(exc))}")
                continue
            print(f"  {printable(spec.case)}: {' '.join(spec.modality)}  {info}")
    collisions = name_collisions([s for ds in datasets for s in ds.cases])
    for key, group in collisions.items():
        ok = False
        print(f"ERROR case names collide as {printable(repr(key))}: {', '.join(printable(s.images[0]) for s in group)}")
    return 0 if ok else 1


def _cmd_convert(args) -> int:
    if args.images or args.labels:
        sources, out = [], args.paths[-1]
        if len(args.paths) != 1:
            raise UsageError("with --images/--labels give only OUT")
    else:
        if len(args.paths) < 2:
            raise UsageError("give SRC [SRC...] OUT")
        sources, out = args.paths[:-1], args.paths[-1]
    recipe = find_recipe(args.recipe) if args.recipe is not None else None
    datasets, failed = _datasets_from_args(args, sources, recipe)
    if args.dry_run:
        return _dry_run(datasets, args.max_voxels) or (1 if failed else 0)
    return runner.convert(datasets, Path(out), _options(args, recipe), engine=_engine(args),
                          shard=runner.Shard.from_slurm(args.num_shards, args.shard_index), resume=args.resume,
                          overwrite=args.overwrite, fail_fast=args.fail_fast, progress=not args.no_progress,
                          test_fraction=args.test_fraction, output=_output(args), failures=failed)


def _output(args) -> runner.OutputFormat:
    return runner.OutputFormat(kind=args.format, shard_size=args.shard_size)


def _engine(args) -> runner.Engine:
    executor = "dask" if args.scheduler else args.executor
    return runner.Engine(workers=args.workers, executor=executor, scheduler=args.scheduler)


def _cmd_recipes(args) -> int:
    from .recipes.listing import describe_folder, recipe_table

    if args.show is None:
        if args.root:
            raise UsageError("ROOT goes with --show NAME")
        print(recipe_table(builtin_recipes()))
        return 0
    recipe = find_recipe(args.show)
    print(recipe.text.rstrip("\n"))
    if args.root:
        print()
        print(describe_folder(find_with_recipe(args.root, recipe)))
    return 0


def _cmd_preview(args) -> int:
    from .preview import make_contact_sheet  # Pillow drawing, only for this command

    try:
        sheet = make_contact_sheet(Path(args.out), n=args.n, dataset=args.dataset, class_name=args.class_name,
                                   seed=args.seed, size=args.size)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    sheet.save(args.output)
    print(f"contact sheet: {Path(args.output).resolve()}")
    return 0


def _cmd_report(args) -> int:
    from .report import write_report  # needs matplotlib, an optional extra

    try:
        path = write_report(Path(args.out), Path(args.output))
    except (RuntimeError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(f"report: {path.resolve()}")
    return 0


def _cmd_merge(args) -> int:
    return runner.merge(Path(args.out), test_fraction=args.test_fraction, partial=args.partial)


def _options(args, recipe=None) -> Options:
    """The run's Options; a recipe's overlap applies where --overlap is not given."""
    release = args.preset == "release"
    overlap = args.overlap or (recipe.overlap if recipe is not None else None) or "error"
    return Options(connectivity=args.connectivity, consolidate="union" if release else args.consolidate,
                   keep_empty=args.keep_empty, rgb=args.rgb or release, threads=args.threads,
                   max_voxels=args.max_voxels, normalization="slice" if release else "volume", overlap=overlap,
                   unnamed="unknown" if release else "label",
                   class_map=load_class_map(args.class_map) if args.class_map else None)


# ---- verify and demo -------------------------------------------------------------------


def _cmd_verify(args) -> int:
    from .verify import verify_output

    problems = verify_output(Path(args.out), deep=args.deep)
    if problems:
        print(f"{args.out}: {len(problems)} problem(s)")
        for line in problems:
            print(f"  {line}")
        return 1
    print(f"{args.out}: OK")
    return 0


def _cmd_demo(args) -> int:
    from .phantom import write_demo_dataset
    from .verify import verify_output

    root = Path(args.out)
    raw, out = root / "raw", root / "SAMed2Dv1"
    print(f"writing the synthetic phantom data sets to {raw} ...")
    written = write_demo_dataset(raw)
    datasets = [
        find_dataset(written["PhantomCT"]["root"]),
        find_dataset(written["PhantomDerm"]["root"], modality=["dermoscopy_00"]),
    ]
    # The demo owns its output: a second demo replaces the first (only the tool's own files go).
    status = runner.convert(datasets, out, _options(args), engine=_engine(args), resume=args.resume,
                            overwrite=not args.resume, fail_fast=args.fail_fast, progress=not args.no_progress,
                            test_fraction=args.test_fraction, output=_output(args))
    problems = verify_output(out)
    print(f"\noutput: {out.resolve()}  (verify: {'OK' if not problems else f'{len(problems)} problems'})")
    return status or (1 if problems else 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"convert": _cmd_convert, "recipes": _cmd_recipes, "verify": _cmd_verify, "demo": _cmd_demo,
               "merge": _cmd_merge, "preview": _cmd_preview, "report": _cmd_report}[args.command]
    try:
        return handler(args)
    except (UsageError, DatasetError, runner.RunError) as exc:
        print(f"samed2d {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run again with --resume to go on", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `samed2d convert ... | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
