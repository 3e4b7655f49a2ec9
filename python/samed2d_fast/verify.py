"""``samed2d verify``: is an output folder complete and consistent?

The plain check decodes every listed file (loose, or in the WebDataset shards),
checks names, sizes and mask values, that nothing unlisted lies in images/ and
masks/, that the split files name what exists, and that no run left its work
half done (clearing, packing, failures, summary). ``deep`` also compares every
mask's area and box with the run's records, every record with the settings OUT
was started with, and looks at the run state (cases started but never recorded,
runs holding the output).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from . import ownership, webdataset
from .classes import ClassTable
from .options import Options
from .lock import held_locks
from .metadata import RELEASE_JSON, TEST_JSON, TRAIN_JSON
from .naming import DIM_SLICE_2D, parse_image_path, parse_mask_path
from .output_folder import OutputFolder
from .settings import load_datasets, load_settings
from .state import StateError, load_failures


def _decode(source):
    with Image.open(source) as im:
        im.load()
        return im.mode, np.asarray(im)


class _Files:
    """The bytes of an output name: a loose file, or a member of the shards of a packed output."""

    def __init__(self, out: Path, problems: List[str]):
        self.out = out
        self.members: Dict[str, bytes] = {}
        self.shard_of = webdataset.load_index(out)
        folder = out / webdataset.FOLDER
        for shard in sorted(set(self.shard_of.values())):
            try:
                with tarfile.open(folder / shard) as tar:
                    for m in tar.getmembers():
                        self.members[f"{shard}/{m.name}"] = tar.extractfile(m).read()
            except (OSError, tarfile.TarError) as exc:
                problems.append(f"{folder / shard}: {exc}")
        self.locate = webdataset.member_locator(self.shard_of) if self.shard_of else None

    def where(self, name: str) -> str:
        """Where ``name``'s bytes are, relative to OUT."""
        try:
            return self.locate(name) if self.locate else name
        except KeyError:
            return f"{webdataset.FOLDER}/(no sample for {name})"

    def exists(self, name: str) -> bool:
        where = self.where(name)
        if self.locate:
            return where[len(webdataset.FOLDER) + 1:] in self.members
        return (self.out / where).is_file()

    def read(self, name: str):
        if self.locate:
            where = self.where(name)[len(webdataset.FOLDER) + 1:]
            if where not in self.members:
                raise OSError(f"not in the shards (expected {webdataset.FOLDER}/{where})")
            return io.BytesIO(self.members[where])
        return self.out / name


def _check_masks(image: str, masks: List[str], pixels: np.ndarray, files: _Files, problems: List[str],
                 boxes: Optional[List[List[int]]] = None) -> None:
    """Every mask parses, belongs to ``image``, decodes as 0/255 grey of the image's size,
    and (with ``boxes``: [area, row0, col0, row1, col1] from the records) has that area and box."""
    stem = image[len("images/"):-len(".png")]
    for i, mask in enumerate(masks):
        try:
            if parse_mask_path(mask).image_stem != stem:
                problems.append(f"{mask}: does not belong to {image}")
            mode, values = _decode(files.read(mask))
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{mask}: {exc}")
            continue
        if mode != "L" or values.shape != pixels.shape[:2]:
            problems.append(f"{mask}: mode {mode} {values.shape}, expected L {pixels.shape[:2]}")
        elif not np.isin(values, (0, 255)).all():
            problems.append(f"{mask}: values other than 0 and 255")
        elif boxes is not None:
            rows, cols = np.nonzero(values)
            found = [int(rows.size), *([int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1]
                                       if rows.size else [0, 0, 0, 0])]
            if found != list(boxes[i]):
                problems.append(f"{mask}: area and box {found} differ from the record's {list(boxes[i])}")


def verify_output(out: Path, deep: bool = False) -> List[str]:
    """One line per problem; an empty list means OUT is fine."""
    out = Path(out)
    folder = OutputFolder(out)
    problems = _state_problems(folder)
    try:
        if deep:
            problems += _deep_state_problems(folder)
        index = folder.release_index
        files = _Files(out, problems)
        boxes = _record_boxes(folder, index, problems) if deep else {}
    except (StateError, ownership.OwnershipError) as exc:
        return problems + [str(exc)]
    except OSError as exc:
        return problems + [f"{exc.filename or out}: cannot read ({exc.strerror or exc})"]
    rgb = load_settings(out).get("rgb") if deep else None
    for image, masks in sorted(index.items()):
        try:
            name = parse_image_path(image)
            mode, pixels = _decode(files.read(image))
        except (OSError, ValueError) as exc:
            problems.append(f"{image}: {exc}")
            continue
        if rgb is True and mode != "RGB":
            problems.append(f"{image}: mode {mode}, but OUT was started with RGB images")
        elif rgb is False and mode != "L" and name.slice_id != DIM_SLICE_2D:
            problems.append(f"{image}: mode {mode}, but OUT was started with grey images of volumes")
        _check_masks(image, masks, pixels, files, problems, boxes.get(image) if deep else None)
    listed = {files.where(name) for image, masks in index.items() for name in (image, *masks)}
    for sub in ("images", "masks"):
        for path in sorted((out / sub).iterdir()) if (out / sub).is_dir() else []:
            if f"{sub}/{path.name}" not in listed:
                problems.append(f"{sub}/{path.name}: not listed in {RELEASE_JSON}")
    if files.locate:
        for member in sorted(set(f"{webdataset.FOLDER}/{m}" for m in files.members) - listed):
            if not member.endswith(".json"):
                problems.append(f"{member}: not listed in {RELEASE_JSON}")
    return problems + _split_problems(folder, files)


def _state_problems(folder: OutputFolder) -> List[str]:
    """What a run left half done."""
    out = folder.path
    problems = []
    try:
        if ownership.is_clearing(out):
            problems.append(f"{out}: an --overwrite was interrupted while clearing; run the convert again")
    except ownership.OwnershipError as exc:
        problems.append(str(exc))
    if (ownership.state_dir(out) / "packing.json").exists():
        problems.append(f"{out}: packing WebDataset shards was interrupted; run 'samed2d convert ... --resume' "
                        f"or 'samed2d merge' to finish it")
    if not (out / ownership.SUMMARY_JSON).is_file():
        problems.append(f"{out / ownership.SUMMARY_JSON}: missing (the run did not finish)")
    try:
        failures = folder.failures
    except StateError as exc:
        problems.append(str(exc))
    else:
        if failures:
            problems.append(f"{out / ownership.FAILURES_JSON}: {len(failures)} case(s) failed to convert")
    return problems


def _split_problems(folder: OutputFolder, files: _Files) -> List[str]:
    """The split files name files that exist, each an image with its own masks."""
    out = folder.path
    problems = []
    prefix = out.resolve().name + "/"
    for name in (TRAIN_JSON, TEST_JSON):
        try:
            split = folder.split(name)
        except StateError as exc:
            problems.append(str(exc))
            continue
        pairs = split.items() if name == TEST_JSON else ((i, m) for i, ms in split.items() for m in ms)
        for first, second in pairs:
            for path in (first, second):
                if not path.startswith(prefix) or not _exists(out, path[len(prefix):], files):
                    problems.append(f"{name}: {path} does not exist in OUT")
    return problems


def _exists(out: Path, relative: str, files: _Files) -> bool:
    if files.locate:
        return relative.startswith(f"{webdataset.FOLDER}/") and relative[len(webdataset.FOLDER) + 1:] in files.members
    return "/" in relative and relative.split("/", 1)[0] in ("images", "masks") and (out / relative).is_file()


def _record_boxes(folder: OutputFolder, index: dict, problems: List[str]) -> Dict[str, List[List[int]]]:
    """Each image's masks' [area, box] from the records, in final names; the records must
    list exactly what SAMed2D_v1.json lists, and agree with the stored settings."""
    recorded = folder.recorded_index
    settings, datasets = load_settings(folder.path), load_datasets(folder.path)
    for rec in folder.records:
        problems += _record_settings_problems(rec, settings, datasets)
    boxes = {image: b for rec in folder.records_in_force for image, b in rec.mask_boxes.items()}
    for image in sorted(set(recorded) | set(index)):
        if recorded.get(image) != index.get(image):
            problems.append(f"{image}: {RELEASE_JSON} lists {index.get(image)}, the records {recorded.get(image)}")
    return boxes


def _record_settings_problems(rec, settings: dict, datasets: Dict[str, dict]) -> List[str]:
    """A record made with the data set's stored tags and classes (and the class map)."""
    entry = datasets.get(rec.dataset)
    if entry is None:
        return [f"record {rec.split_key}: data set {rec.dataset} is not one OUT was started with"] if datasets else []
    tags = set(entry["modality"])
    problems = [f"{image}: modality {parse_image_path(image).modality} is not one of the data set's tags "
                f"{sorted(tags)}" for image in rec.images if parse_image_path(image).modality not in tags]
    class_map = Options(class_map=settings.get("class_map")).class_map_of(rec.dataset)
    declared = ClassTable({int(v): n for v, n in entry["class_names"].items()}, None, class_map).declared
    if rec.declared != declared:
        problems.append(f"record {rec.split_key}: its declared classes {rec.declared} are not the data set's "
                        f"{declared}")
    return problems


def _deep_state_problems(folder: OutputFolder) -> List[str]:
    out = folder.path
    problems = []
    locks = held_locks(ownership.state_dir(out) / "locks")
    for name, holder in locks.items():
        problems.append(f"{out}: a samed2d run holds it ({name}: host {holder.get('host')}, pid {holder.get('pid')})")
    if not locks:
        ended = {r.split_key for r in folder.records} | set(load_failures(out))
        for key in sorted(set(ownership.load_started(out)) - ended):
            problems.append(f"case {key}: started but neither recorded nor failed (interrupted): "
                            f"run the convert again with --resume")
    return problems
