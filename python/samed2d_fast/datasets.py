"""Finding the cases of a raw data set folder (MSD, nnU-Net v1/v2, 2D, TotalSegmentator,
BUSI, or globs).

Only file names and headers are looked at here; nothing is decoded. A
``CaseSpec`` carries everything ``convert_case`` needs, so a case can be sent
to any worker as it is. Every file of a folder that does not become a case is
accounted for: an image without a label (``Dataset.unlabelled``), a file left
out for a reason (``Dataset.skipped``), or a case that fails before it runs
(``Dataset.failed``).
"""

from __future__ import annotations

import glob
import json
import os
import re
import reprlib
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .inputs import (
    DATA_FILE_SUFFIXES,
    DEFAULT_MAX_VOXELS,
    FORMATS,
    CaseSpec,
    InputError,
    case_key,
    case_name_of,
    check_file,
    format_of,
    read_header,
)
from .inputs.dicom import DicomFile
from .inputs.image2d import Image2D
from .inputs.itk import Itk
from .inputs.labels import is_binary_mask
from .printable import printable

_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")

# Channel names of dataset.json (and --modality words) -> release modality tags.
MODALITY_TAGS = {
    "ct": "ct_00",
    "mr": "mr_00", "mri": "mr_00",
    "t1": "mr_t1", "t1w": "mr_t1",
    "t1gd": "mr_t1ce", "t1ce": "mr_t1ce", "t1c": "mr_t1ce",
    "t2": "mr_t2", "t2w": "mr_t2",
    "flair": "mr_flair",
    "adc": "mr_adc",
    "dwi": "mr_dwi",
    "pet": "pet_00",
}
RELEASE_TAGS = {
    "ct_00", "mr_00", "mr_t1", "mr_t1ce", "mr_t2", "mr_flair", "mr_adc", "mr_dwi", "pet_00",
    "x_ray", "ultrasound_00", "endoscopy_00", "dermoscopy_00", "fundus_photography",
}

# Why a file of a data set folder is not part of any case (the keys of Dataset.skipped).
SKIP_HIDDEN = "hidden file (name begins with a dot)"
SKIP_FOLDER = "folder (sub-folders are not searched)"
SKIP_NOT_INPUT = "not an image or volume file"
SKIP_NOT_2D = "not a 2D image file"
SKIP_DATA_FILE = "data file of a header file (.hdr, .mhd): read through it"
SKIP_NOT_CASE = "folder that is not a case (no image of the layout)"
SKIP_LABEL_ALONE = "label without an image"
SKIP_UNUSED_LABELS = "labels/ not read (masks/ is)"
SKIP_DUPLICATE = "duplicate of an earlier case (same real path)"
SKIP_LOOP = "symlink loop (not followed)"
SKIP_LINKED_TWICE = "folder reached twice through symbolic links (read once)"


class DatasetError(ValueError):
    """A data set folder cannot be read as a whole (not a single case's fault)."""


def _tag_of(name: str) -> Optional[str]:
    key = name.strip().lower()
    return MODALITY_TAGS.get(key) or (key if key in RELEASE_TAGS else None)


def modality_tag(name: str, source: str) -> str:
    """A release tag for a channel name of dataset.json: the table above, or a release tag itself."""
    tag = _tag_of(name)
    if tag is None:
        raise DatasetError(
            f"{source}: channel name {name!r} has no SA-Med2D modality tag; "
            f"give one with --modality (e.g. --modality ct_00, or one tag per channel)"
        )
    return tag


def option_modality_tags(words: Sequence[str]) -> List[str]:
    """Release tags for the words given with ``--modality``; an unknown word names the option
    and every accepted word."""
    tags = []
    for word in words:
        tag = _tag_of(word)
        if tag is None:
            raise DatasetError(
                f"--modality {word!r} is not a modality: give release tags ({', '.join(sorted(RELEASE_TAGS))}) "
                f"or channel names in any case ({', '.join(sorted(MODALITY_TAGS))}), one per channel, "
                f"comma-separated"
            )
        tags.append(tag)
    return tags


@dataclass
class Dataset:
    """The cases of one SRC, and every file of it that is not a case's, with the reason.

    ``unlabelled``: image files without a label (not cases; counted on their own).
    ``skipped``: reason (one of the ``SKIP_*`` texts) -> sorted paths of the files left out
    for it: hidden files, sub-folders (and a 2D folder's labels/ beside its masks/), files
    of other types, labels without an image, the files of a case whose first image is the
    same file (real path) as an earlier case's, symbolic links to a folder that holds them
    (a loop, never followed).
    ``warnings``: one line each about a file that still converts (``<path>: 3 frames, the
    first is converted``).
    ``failed``: case key -> one-line error, for cases that fail before they run (two image
    or label files with one name).
    ``modality_tags``: the tags the layout declares for the data set (a recipe's, whichever
    of its cases are present); empty: the first case's.
    ``recipe``: the recipe that read the folder (name and a digest of its file), or "".
    """

    name: str
    source: str
    layout: str                          # "msd/nnunet", "2d", "totalsegmentator", "busi" or "glob"
    cases: List[CaseSpec]
    unlabelled: List[str] = field(default_factory=list)
    class_names: Dict[int, str] = field(default_factory=dict)
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)
    modality_tags: List[str] = field(default_factory=list)
    recipe: str = ""


def _is_input(name: str) -> bool:
    """A file name of any format (a DICOM series is a folder: not found in these layouts);
    a data file read through its header file is not one."""
    return not _is_data_file(name) and any(fmt.suffixes and fmt.matches(name) for fmt in FORMATS)


def _is_2d(name: str) -> bool:
    """A file Pillow reads (a 2D image by its name alone)."""
    return isinstance(format_of(name), Image2D)


def _may_be_2d(name: str) -> bool:
    """A file of a format that holds 2D images: Pillow's, DICOM, MetaImage, NRRD (whether
    it is 2D, its header tells)."""
    return isinstance(format_of(name), (Image2D, DicomFile, Itk)) and not _is_data_file(name)


def _is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_FILE_SUFFIXES)


def add_skipped(skipped: Dict[str, List[str]], reason: str, paths: Sequence) -> None:
    if paths:
        skipped.setdefault(reason, []).extend(map(str, paths))


def _list_inputs(folder: Path, accepts: Callable[[str], bool], other: str,
                 skipped: Dict[str, List[str]]) -> List[Path]:
    """The files of ``folder`` that ``accepts`` by name, sorted; every other entry is
    recorded in ``skipped`` (``other`` is the reason for files of another type)."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    inputs = []
    for entry in entries:
        path = folder / entry.name
        if entry.name.startswith("."):
            add_skipped(skipped, SKIP_HIDDEN, [path])
        elif accepts(entry.name):  # a folder named x.nii.gz too: its case fails, naming it
            inputs.append(path)
        elif _is_data_file(entry.name) and not entry.is_dir():
            add_skipped(skipped, SKIP_DATA_FILE, [path])
        elif entry.is_dir():
            add_skipped(skipped, SKIP_FOLDER, [path])
        else:
            add_skipped(skipped, other, [path])
    return inputs


def _by_name(paths: Sequence[Path], name_of: Callable[[Path], str]) -> Dict[str, List[Path]]:
    grouped: Dict[str, List[Path]] = {}
    for path in paths:
        grouped.setdefault(name_of(path), []).append(path)
    return grouped


def _one_name_several_files(groups: Sequence[Tuple[str, List[Path]]], case: str) -> Optional[str]:
    """The error of a case for which one name stands for several files (``p.png`` and
    ``p.jpg``): converting either would be a guess, so the case fails naming them all."""
    parts = [f"{' and '.join(map(str, files))}: {len(files)} {what} files for case {case!r} "
             f"(same name, other extension): keep one" for what, files in groups if len(files) > 1]
    return "; ".join(parts) or None


def _without_duplicates(cases: List[CaseSpec], skipped: Dict[str, List[str]]) -> List[CaseSpec]:
    """The cases whose first image is not the same file (real path) as an earlier case's:
    a symbolic link, or a folder reached twice, must not give a volume twice (some copies
    in train, some in test). The first case in order is kept, the others' files skipped."""
    seen = set()
    kept = []
    for spec in cases:
        real = os.path.realpath(spec.images[0])
        if real in seen:
            add_skipped(skipped, SKIP_DUPLICATE, spec.sources)
        else:
            seen.add(real)
            kept.append(spec)
    return kept


def _frame_warnings(cases: Sequence[CaseSpec]) -> List[str]:
    """A line for each 2D file of several frames (multi-page TIFF, animated GIF, APNG or
    WebP, MPO): only its first frame is converted (SPEC section 1). Headers only; a file
    that cannot be opened is left for its case to report."""
    warnings = []
    for spec in cases:
        for path in spec.sources:
            if not _is_2d(path):
                continue
            try:
                frames = read_header(path, DEFAULT_MAX_VOXELS).frames
            except Exception:  # the case reports it with the reader's message
                continue
            if frames > 1:
                warnings.append(f"{path}: {frames} frames, the first is converted")
    return warnings


def finish_dataset(dataset: Dataset) -> Dataset:
    """Removes duplicate cases, adds the frame warnings and sorts the skipped paths."""
    dataset.cases = _without_duplicates(dataset.cases, dataset.skipped)
    dataset.warnings = _frame_warnings(dataset.cases)
    dataset.skipped = {reason: sorted(set(paths)) for reason, paths in sorted(dataset.skipped.items())}
    return dataset


def overview(dataset: Dataset) -> List[str]:
    """What was found in a data set folder, for a person: the counts, the skipped files by
    reason (three of each), the classes, the warnings and the cases that fail already."""
    lines = [f"{printable(dataset.name)}  [{dataset.layout}]  {printable(dataset.source)}",
             f"  {len(dataset.cases)} cases, {len(dataset.unlabelled)} images without a label (skipped)"]
    for reason, paths in dataset.skipped.items():
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        lines.append(f"  {len(paths)} skipped, {reason}: {', '.join(printable(p) for p in paths[:3])}{more}")
    classes = ", ".join(f"{v}={printable(n)}" for v, n in sorted(dataset.class_names.items())) or "(unnamed)"
    lines.append(textwrap.fill(classes, width=100, initial_indent="  classes: ", subsequent_indent="    ",
                               break_long_words=False, break_on_hyphens=False))
    lines += [f"  WARNING {printable(line)}" for line in dataset.warnings]
    lines += [f"  ERROR {printable(dataset.failed[key])}" for key in sorted(dataset.failed)]
    return lines


def read_json(path) -> object:
    """A JSON file's value; every reason it cannot be read is one line naming the file."""
    try:
        check_file(path)
        raw = Path(path).read_bytes()
    except InputError as exc:
        raise DatasetError(str(exc)) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    encoding = json.detect_encoding(raw)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise DatasetError(f"{path}: cannot read ({encoding.upper()} text; a JSON file must be UTF-8)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        cause = f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        raise DatasetError(f"{path}: cannot read ({cause})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise DatasetError(f"{path}: cannot read (JSON nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of too many digits
        raise DatasetError(f"{path}: cannot read ({exc})") from None


def read_class_names(obj) -> Dict[int, str]:
    """``labels`` of dataset.json in either form: {"1": "liver"} or {"liver": 1}.

    nnU-Net v2 regions (a list of values) are not classes and are left out. One value
    with two names is refused: one of them would be lost.
    """
    if not isinstance(obj, dict):
        raise DatasetError(f"labels must be a JSON object, got {type(obj).__name__}")
    names: Dict[int, str] = {}
    for key, value in obj.items():
        if isinstance(value, list):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            number, name = value, str(key)
        elif isinstance(value, str) and _is_integer(key):
            number, name = int(key), value
        elif isinstance(value, str) and _is_integer(value):
            number, name = int(value), str(key)
        else:
            raise DatasetError(f"cannot read label entry {reprlib.repr(key)}: {reprlib.repr(value)}")
        if names.get(number, name) != name:
            raise DatasetError(f"label value {number} has two names: {names[number]!r} and {name!r}")
        names[number] = name
    return names


def _is_integer(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()


def load_class_names_file(path) -> Dict[int, str]:
    """A JSON object of class names in either dataset.json form (or a dataset.json itself)."""
    obj = read_json(path)
    if isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
        obj = obj["labels"]
    try:
        return read_class_names(obj)
    except DatasetError as exc:
        raise DatasetError(f"{path}: cannot read class names ({exc})") from None


def _channel_tags(meta: dict, source: str, override: Optional[Sequence[str]]) -> List[str]:
    if override:
        return option_modality_tags(override)
    key = next((k for k in ("channel_names", "modality") if meta.get(k)), None)
    if key is None:
        raise DatasetError(f"{source}: dataset.json names no channels; give --modality")
    channels = meta[key]
    if not isinstance(channels, dict):
        raise DatasetError(f'{source}: {key} must be a JSON object such as {{"0": "CT"}}, '
                           f'got {type(channels).__name__}')
    names: Dict[int, str] = {}
    for number, name in channels.items():
        if not (number.isascii() and number.isdigit()) or int(number) in names:
            raise DatasetError(f'{source}: {key} key {number!r} is not a channel number '
                               f'(expected {{"0": "CT", "1": ...}})')
        if not isinstance(name, str):
            raise DatasetError(f"{source}: {key} entry {number!r} is {reprlib.repr(name)}, not a channel name "
                               f"(a string such as 'CT')")
        names[int(number)] = name
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"{source}: {key} numbers must be 0 to {len(names) - 1}, "
                           f"got {', '.join(map(str, sorted(names)))}")
    return [modality_tag(names[n], source) for n in sorted(names)]


def _dataset_name(name: Optional[str], meta: dict, root: Path, source: str) -> str:
    if name:
        return name
    given = meta.get("name")
    if given is not None and not isinstance(given, str):
        raise DatasetError(f"{source}: name must be a string, got {reprlib.repr(given)}")
    return given or root.name


def _nothing_found(root: Path, found: str, expected: str) -> DatasetError:
    return DatasetError(f"{root}: no case found: {found}; expected {expected}")


def find_msd_nnunet(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """An MSD / nnU-Net v1 / v2 folder: dataset.json, imagesTr/, labelsTr/."""
    source = str(root / "dataset.json")
    meta = read_json(root / "dataset.json")
    if not isinstance(meta, dict):
        raise DatasetError(f"{source}: not a JSON object")
    if class_names is None:
        if "labels" not in meta:
            raise DatasetError(f"{source}: no 'labels' entry; give --class-names")
        try:
            class_names = read_class_names(meta["labels"])
        except DatasetError as exc:
            raise DatasetError(f"{source}: {exc}") from None
    tags = _channel_tags(meta, source, modality)
    dataset = _dataset_name(name, meta, root, source)
    skipped: Dict[str, List[str]] = {}
    label_files = _list_inputs(root / "labelsTr", _is_input, SKIP_NOT_INPUT, skipped)
    image_files = _list_inputs(root / "imagesTr", _is_input, SKIP_NOT_INPUT, skipped)
    labels, channels = _by_name(label_files, case_name_of), _by_name(image_files, case_name_of)
    images: Dict[str, List[str]] = {}  # case -> the names of its channel files
    for stem in channels:
        match = _CHANNEL_SUFFIX.match(stem)
        images.setdefault(match["case"] if match and stem not in labels else stem, []).append(stem)
    cases, unlabelled, failed = [], [], {}
    for case, stems in sorted(images.items()):
        files = [f for stem in stems for f in channels[stem]]
        if case not in labels:
            unlabelled += map(str, files)
            continue
        error = _one_name_several_files([*(("image", channels[s]) for s in stems), ("label", labels[case])], case)
        if error:
            failed[case_key(dataset, case)] = error
            continue
        cases.append(CaseSpec(dataset, case, tuple(map(str, sorted(files))), str(labels[case][0]), tuple(tags),
                              class_names))
    add_skipped(skipped, SKIP_LABEL_ALONE, [f for case in sorted(set(labels) - set(images)) for f in labels[case]])
    if not cases and not failed:
        raise _nothing_found(
            root, f"{len(image_files)} image file(s) in imagesTr/, {len(label_files)} in labelsTr/"
                  f"{', no image has a label of its case name' if image_files and label_files else ''}",
            "imagesTr/CASE_0000.nii.gz (one file per channel, or CASE.nii.gz) with labelsTr/CASE.nii.gz")
    return finish_dataset(Dataset(dataset, str(root), "msd/nnunet", cases, unlabelled, class_names, skipped, [], failed))


def _instance_mask_example(images: Dict[str, List[Path]], masks: Dict[str, List[Path]]) -> Optional[str]:
    """A mask whose name is an image's name and more (``x--liver_000.png`` for ``x.png``):
    one file per instance, as SA-Med2D-20M's or SAM-Med2D's own masks, not a label map."""
    for stem in sorted(masks):
        for end, char in enumerate(stem):
            if char in "-_" and stem[:end] in images:
                mask, image = masks[stem][0], images[stem[:end]][0]
                return f"{mask.parent.name}/{mask.name} for {image.parent.name}/{image.name}"
    return None


def find_2d(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """A 2D folder: images/ and masks/ (or labels/) matched by file stem; files of any format
    that holds 2D images (Pillow's, single DICOM files, 2D MetaImage and NRRD)."""
    if not modality:
        raise DatasetError(f"{root}: a 2D data set needs --modality (e.g. dermoscopy_00)")
    tags = option_modality_tags(modality)
    mask_dir = root / "masks" if (root / "masks").is_dir() else root / "labels"
    skipped: Dict[str, List[str]] = {}
    if mask_dir.name == "masks" and (root / "labels").is_dir():
        add_skipped(skipped, SKIP_UNUSED_LABELS, [root / "labels"])
    image_files = _list_inputs(root / "images", _may_be_2d, SKIP_NOT_2D, skipped)
    mask_files = _list_inputs(mask_dir, _may_be_2d, SKIP_NOT_2D, skipped)
    images, masks = _by_name(image_files, case_name_of), _by_name(mask_files, case_name_of)
    if class_names is None:
        class_names = load_class_names_file(root / "classes.json") if (root / "classes.json").is_file() else {}
    dataset = name or root.name
    cases, unlabelled, failed = [], [], {}
    for stem in sorted(images):
        if stem not in masks:
            unlabelled += map(str, images[stem])
            continue
        error = _one_name_several_files([("image", images[stem]), ("mask", masks[stem])], stem)
        if error:
            failed[case_key(dataset, stem)] = error
            continue
        cases.append(CaseSpec(dataset, stem, (str(images[stem][0]),), str(masks[stem][0]), tuple(tags), class_names))
    add_skipped(skipped, SKIP_LABEL_ALONE, [f for stem in sorted(set(masks) - set(images)) for f in masks[stem]])
    if not cases and not failed:
        found = f"{len(image_files)} image file(s) in images/, {len(mask_files)} in {mask_dir.name}/"
        if image_files and mask_files:
            found += ", no image has a mask of the same name"
            example = _instance_mask_example(images, masks)
            if example:
                found += f" ({mask_dir.name}/ looks like one file per instance: {example})"
        raise _nothing_found(root, found, f"one label map per image with the image's name (images/NAME.png "
                                          f"and {mask_dir.name}/NAME.png, each pixel value a class)")
    return finish_dataset(Dataset(dataset, str(root), "2d", cases, unlabelled, class_names, skipped, [], failed))


def _folders_below(base: str, skipped: Dict[str, List[str]]) -> Iterator[str]:
    """``base`` and every folder below it that ``**`` matches (hidden ones excepted, as
    glob does). A symbolic link to a folder that holds it is a loop: not followed (glob
    would go round it until the path is too long), recorded in ``skipped``."""
    stack = [(base, frozenset({os.path.realpath(base or ".")}))]
    while stack:
        folder, ancestors = stack.pop()
        yield folder
        try:
            with os.scandir(folder or ".") as it:
                entries = sorted((e for e in it if not e.name.startswith(".") and e.is_dir()),
                                 key=lambda e: e.name, reverse=True)
        except OSError:  # glob skips a folder it cannot list in the same way
            continue
        for entry in entries:
            path = os.path.join(folder, entry.name)
            real = os.path.realpath(path)
            if real in ancestors:
                add_skipped(skipped, SKIP_LOOP, [path])
            else:
                stack.append((path, ancestors | {real}))


def _glob(pattern: str, skipped: Dict[str, List[str]]) -> List[str]:
    """``glob.glob(pattern, recursive=True)``, sorted, except that ``**`` does not go
    round symbolic link loops."""
    parts = pattern.split("/")
    if "**" not in parts:
        return sorted(glob.glob(pattern))
    at = parts.index("**")
    head, rest = "/".join(parts[:at]) or ("/" if at else ""), "/".join(parts[at + 1:]) or "*"
    bases = ([b for b in glob.glob(head) if os.path.isdir(b)] if glob.has_magic(head) else
             [head] if not head or os.path.isdir(head) else [])
    found = set()
    for base in bases:
        for folder in _folders_below(base, skipped):
            found.update(_glob(os.path.join(glob.escape(folder), rest), skipped))
    return sorted(found)


def _glob_case_names(pattern: str, skipped: Dict[str, List[str]]) -> Dict[str, str]:
    """Files matching ``pattern`` keyed by the text its wildcards matched.

    ``raw/*_ct.nii.gz`` and ``raw/*_seg.nii.gz`` both key ``raw/p01_...`` as
    ``p01``; a pattern without wildcards keys its file by its case name.
    """
    regex, wild = "", False
    for part in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern):
        if part in ("**/", "**"):
            regex, wild = regex + "(.*?)", True
        elif part == "*":
            regex, wild = regex + "([^/]*)", True
        elif part == "?":
            regex, wild = regex + "([^/])", True
        elif part.startswith("[") and part.endswith("]") and len(part) > 2:
            regex, wild = regex + "(" + part.replace("[!", "[^") + ")", True
        else:
            regex += re.escape(part)
    matcher = re.compile(regex + r"\Z")
    out: Dict[str, str] = {}
    for path in _glob(pattern, skipped):
        match = matcher.match(path)
        key = "".join(match.groups()) if wild and match else case_name_of(path)
        out[key] = path
    return out


def find_globs(image_glob: str, label_glob: str, name: Optional[str], modality, class_names) -> Dataset:
    """Cases from two glob patterns, matched by what their wildcards matched; unpaired files are an error."""
    if not modality:
        raise DatasetError("--images/--labels need --modality")
    tags = option_modality_tags(modality)
    skipped: Dict[str, List[str]] = {}
    images, labels = _glob_case_names(image_glob, skipped), _glob_case_names(label_glob, skipped)
    lonely = sorted(set(images) ^ set(labels))
    if lonely or not images:
        detail = ", ".join(
            f"{images[c]} (image without a label)" if c in images else f"{labels[c]} (label without an image)"
            for c in lonely[:20]
        ) or f"no files match {image_glob!r}"
        more = f" and {len(lonely) - 20} more" if len(lonely) > 20 else ""
        raise DatasetError(f"--images/--labels do not pair: {detail}{more}")
    dataset = name or Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in images.values()])).name
    cases = [CaseSpec(dataset or "dataset", c, (images[c],), labels[c], tuple(tags), class_names or {})
             for c in sorted(images)]
    return finish_dataset(Dataset(dataset or "dataset", image_glob, "glob", cases, [], class_names or {}, skipped))


# TotalSegmentator: one folder per case, the image and segmentations/<class>.nii.gz
# (https://github.com/wasserth/TotalSegmentator, its data set's README).
TOTALSEGMENTATOR_IMAGES = {"ct.nii.gz": "ct_00", "mri.nii.gz": "mr_00"}
SEGMENTATIONS = "segmentations"


def _subfolders(root: Path, skipped: Dict[str, List[str]]) -> List[Path]:
    """The non-hidden folders of ``root``, sorted; its other entries are recorded as skipped."""
    folders = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        path = root / entry.name
        if entry.name.startswith("."):
            add_skipped(skipped, SKIP_HIDDEN, [path])
        elif entry.is_dir():
            folders.append(path)
        else:
            add_skipped(skipped, SKIP_NOT_INPUT, [path])
    return folders


def _totalsegmentator_image(folder: Path) -> Optional[Path]:
    return next((folder / n for n in TOTALSEGMENTATOR_IMAGES if (folder / n).is_file()), None)


def is_totalsegmentator(root: Path) -> bool:
    """A root whose case folders hold ct.nii.gz or mri.nii.gz beside segmentations/."""
    return any(_totalsegmentator_image(f) and (f / SEGMENTATIONS).is_dir()
               for f in root.iterdir() if f.is_dir() and not f.name.startswith("."))


def find_totalsegmentator(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """TotalSegmentator: ``s0000/ct.nii.gz`` (or ``mri.nii.gz``) with one mask file per class in
    ``s0000/segmentations/``; a class is named by its file. The data set is named by the root,
    the case by its folder, the modality by the image's name (ct_00, mr_00)."""
    dataset = name or root.name
    skipped: Dict[str, List[str]] = {}
    cases, unlabelled, failed = [], [], {}
    for folder in _subfolders(root, skipped):
        image = _totalsegmentator_image(folder)
        if image is None:
            add_skipped(skipped, SKIP_NOT_CASE, [folder])
            continue
        others = [folder / e for e in sorted(os.listdir(folder)) if e not in (image.name, SEGMENTATIONS)]
        add_skipped(skipped, SKIP_NOT_INPUT, others)
        if not (folder / SEGMENTATIONS).is_dir():
            unlabelled.append(str(image))
            continue
        masks = _list_inputs(folder / SEGMENTATIONS, _is_input, SKIP_NOT_INPUT, skipped)
        if not masks:
            failed[case_key(dataset, folder.name)] = (f"{folder / SEGMENTATIONS}: no class file (expected one "
                                                      f"<class>.nii.gz per class)")
            continue
        label = {}
        for mask in masks:
            label.setdefault(case_name_of(mask), []).append(str(mask))
        tags = option_modality_tags(modality) if modality else [TOTALSEGMENTATOR_IMAGES[image.name]]
        cases.append(CaseSpec(dataset, folder.name, (str(image),), {k: tuple(v) for k, v in label.items()},
                              tuple(tags), dict(class_names or {})))
    if not cases and not failed:
        raise _nothing_found(root, "no case folder with an image and segmentations/",
                             "CASE/ct.nii.gz (or mri.nii.gz) and CASE/segmentations/<class>.nii.gz")
    return finish_dataset(Dataset(dataset, str(root), "totalsegmentator", cases, unlabelled, dict(class_names or {}),
                           skipped, [], failed))


# BUSI (Al-Dhabyani et al. 2020): benign/, malignant/, normal/, each with "benign (1).png"
# and its masks "benign (1)_mask.png", "benign (1)_mask_1.png", ...; the folder names the class.
_BUSI_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<n>\d+))?$")


def is_busi(root: Path) -> bool:
    """A root without images/ whose sub-folders hold <stem>.png beside <stem>_mask.png."""
    for folder in root.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            names = {p.stem for p in folder.iterdir() if _is_2d(p.name)}
            if any((m := _BUSI_MASK.match(n)) and m["stem"] in names for n in names):
                return True
    return False


def find_busi(root: Path, name: Optional[str], modality, class_names) -> Dataset:
    """BUSI-like 2D sets: one folder per class, each image with one or more mask files, united."""
    if not modality:
        raise DatasetError(f"{root}: a 2D data set needs --modality (e.g. ultrasound_00)")
    tags = option_modality_tags(modality)
    dataset = name or root.name
    skipped: Dict[str, List[str]] = {}
    cases, unlabelled, failed = [], [], {}
    for folder in _subfolders(root, skipped):
        files = _list_inputs(folder, _is_2d, SKIP_NOT_2D, skipped)
        masks: Dict[str, List[Tuple[int, Path]]] = {}
        images: Dict[str, List[Path]] = {}
        for path in files:
            match = _BUSI_MASK.match(path.stem)
            if match:
                masks.setdefault(match["stem"], []).append((int(match["n"] or 0), path))
            else:
                images.setdefault(path.stem, []).append(path)
        for stem in sorted(images):
            if stem not in masks:
                unlabelled += map(str, images[stem])
                continue
            error = _one_name_several_files([("image", images[stem])], stem)
            if error:
                failed[case_key(dataset, stem)] = error
                continue
            mask_files = tuple(str(p) for _, p in sorted(masks[stem]))
            cases.append(CaseSpec(dataset, stem, (str(images[stem][0]),), {folder.name: mask_files}, tuple(tags),
                                  dict(class_names or {})))
        add_skipped(skipped, SKIP_LABEL_ALONE, [p for stem in sorted(set(masks) - set(images)) for _, p in masks[stem]])
    if not cases and not failed:
        raise _nothing_found(root, "no image with a mask", "CLASS/NAME.png with CLASS/NAME_mask.png")
    return finish_dataset(Dataset(dataset, str(root), "busi", cases, unlabelled, dict(class_names or {}), skipped, [],
                           failed))


def find_dataset(root, *, name=None, modality=None, class_names=None) -> Dataset:
    """Detects the layout of ``root`` by its shape."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if (root / "dataset.json").is_file() and (root / "imagesTr").is_dir() and (root / "labelsTr").is_dir():
        return find_msd_nnunet(root, name, modality, class_names)
    if (root / "images").is_dir() and ((root / "masks").is_dir() or (root / "labels").is_dir()):
        return find_2d(root, name, modality, class_names)
    if not (root / "dataset.json").exists() and is_totalsegmentator(root):
        return find_totalsegmentator(root, name, modality, class_names)
    if not (root / "images").exists() and is_busi(root):
        return find_busi(root, name, modality, class_names)
    raise DatasetError(
        f"{root}: not an MSD/nnU-Net folder (dataset.json, imagesTr/, labelsTr/), a 2D one (images/ and masks/ "
        f"or labels/), a TotalSegmentator one (CASE/ct.nii.gz and CASE/segmentations/) nor a BUSI one "
        f"(CLASS/NAME.png and CLASS/NAME_mask.png); use --images GLOB --labels GLOB"
    )


def name_collisions(cases: Sequence[CaseSpec], webdataset_keys: bool = False) -> Dict[str, List[CaseSpec]]:
    """Cases of one data set whose cleaned names are equal, by their shared key; with
    ``webdataset_keys`` also those equal once ``.`` is replaced by ``_`` (WebDataset keys)."""
    by_key: Dict[str, List[CaseSpec]] = {}
    for spec in cases:
        by_key.setdefault(spec.key.replace(".", "_") if webdataset_keys else spec.key, []).append(spec)
    return {k: v for k, v in by_key.items() if len(v) > 1}


def decide_binary(dataset: Dataset) -> None:
    """SPEC section 1: a 2D data set whose masks hold only 0 and 255 is binary.

    Decodes every mask once (2D masks are small); a mask that cannot be read
    is left for its case to report.
    """
    if not dataset.cases or dataset.cases[0].is_label_set:
        return
    binary = True
    for spec in dataset.cases:
        try:
            header = read_header(spec.label, DEFAULT_MAX_VOXELS)
            if header.is_volume:
                return
            values = header.fmt.read_label_2d(header, False)
        except Exception:  # the case reports it with the reader's message
            continue
        if not is_binary_mask(values) and values.any():
            binary = False
            break
    for spec in dataset.cases:
        spec.binary = binary


def load_class_map(path) -> Dict[str, Dict[str, int]]:
    """A ``SAMed2D_v1_class_mapping_id.json``-style file: {"dataset": {"class name": "0003"}}."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
            raise ValueError('expected {"dataset": {"class name": "0003", ...}, ...}')
        return {str(ds): {str(n): int(i) for n, i in ids.items()} for ds, ids in obj.items()}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the class map ({exc})") from None
