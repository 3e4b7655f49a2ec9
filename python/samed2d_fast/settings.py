"""The settings that decide an output's bytes, fixed at the first start of an OUT.

A resumed run, another shard or a merge with different settings would silently
mix two outputs in one folder (grey and RGB images, two connectivities). So the
first run stores them, and every later run compares and refuses, naming each
difference. Each data set's modality tags and class names are stored when its
first source is converted: adding new sources to a finished output stays
allowed, but one data set name can never mean two sets of classes. What only
changes speed (-j, --threads, --max-voxels) or the split (--test-fraction) is
not compared.

Files are created with a hard link from a complete temporary file, which fails
when the name exists: of two shards starting at once, one stores, the other
compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional

from . import __version__
from .output import temporary_name, write_json
from .record import STATE_DIR

SETTINGS_JSON = "settings.json"

# Stored setting -> how the user names it.
OPTION_NAMES = {
    "version": "samed2d_fast version",
    "normalization": "normalisation (--preset)",
    "connectivity": "--connectivity",
    "consolidate": "--consolidate (or --preset)",
    "keep_empty": "--keep-empty",
    "rgb": "--rgb (or --preset)",
    "format": "--format",
    "shard_size": "--shard-size",
    "class_map": "--class-map contents",
    "num_shards": "--num-shards",
    "overlap": "--overlap",
    "unnamed": "--preset (how unnamed label values are called)",
}
# Settings stored since a later version: what an OUT started before them was converted with.
_DEFAULT_WHEN_MISSING = {"overlap": "error", "unnamed": "label"}


class SettingsError(Exception):
    """This run's settings differ from those OUT was started with."""


def output_settings(options, fmt: str, shard_size: int, num_shards: int) -> dict:
    """The stored form: everything that decides output bytes."""
    return {
        "version": __version__,
        "normalization": options.normalization,
        "connectivity": options.connectivity,
        "consolidate": options.consolidate,
        "keep_empty": options.keep_empty,
        "rgb": options.rgb,
        "format": fmt,
        "shard_size": shard_size if fmt == "webdataset" else 0,
        "class_map": options.class_map,
        "num_shards": num_shards,
        "overlap": options.overlap,
        "unnamed": options.unnamed,
    }


def _create_once(path: Path, obj) -> bool:
    """Writes ``obj`` to ``path`` only if no file is there; True if this call wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / temporary_name()
    write_json(tmp, obj)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> dict:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        return obj
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path}: cannot read the stored settings ({exc})") from None


def settings_path(out: Path) -> Path:
    return Path(out) / STATE_DIR / SETTINGS_JSON


def _show(value) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


def fix_settings(out: Path, settings: dict, test_fraction: float, what: str) -> Optional[str]:
    """Stores ``settings`` at the first start, or refuses ones that differ from those stored.

    Returns a note to print when an output of an earlier release (settings without
    ``version``) was adopted with this run's settings.
    """
    path = settings_path(out)
    if _create_once(path, {**settings, "test_fraction": test_fraction}):
        return None
    stored = _read(path)
    if "version" not in stored:  # written by a release that stored only the format
        adopted = {**settings, "format": stored.get("format", settings["format"]),
                   "shard_size": stored.get("shard_size", settings["shard_size"]), "test_fraction": test_fraction}
        write_json(path, adopted)
        stored = adopted
        note = (f"{out}: adopted the output of an earlier samed2d_fast, which kept no settings; "
                f"its cases are taken to have been converted with this run's settings")
    else:
        note = None
    differences = [f"{OPTION_NAMES[k]}: {_show(stored.get(k, _DEFAULT_WHEN_MISSING.get(k)))} in OUT, {_show(v)} now"
                   for k, v in settings.items() if stored.get(k, _DEFAULT_WHEN_MISSING.get(k)) != v]
    if differences:
        raise SettingsError(f"{out} was started with other settings than this {what}: " + "; ".join(differences)
                            + ". Run with the settings OUT was started with, or convert into a new OUT")
    if what == "run" and stored.get("test_fraction") != test_fraction:
        write_json(path, {**stored, "test_fraction": test_fraction})
    return note


def load_settings(out: Path) -> dict:
    path = settings_path(out)
    if not path.exists():
        return {"format": "files", "shard_size": 0, "test_fraction": 0.2}
    return _read(path)


# ---- data sets -----------------------------------------------------------------------


def dataset_settings(name: str, source: str, modality: List[str], class_names: Dict[int, str],
                     recipe: str = "") -> dict:
    """A data set's stored form: its tags, the names of its label values (0 is the
    background whatever it is called) and the recipe that read it ("" for none)."""
    return {"dataset": name, "source": source, "modality": list(modality),
            "class_names": {str(v): n for v, n in sorted(class_names.items()) if v != 0}, "recipe": recipe}


def _dataset_differences(first: dict, second: dict) -> List[str]:
    differences = [f"its {what} are {_show(second[key])}, not {_show(first[key])}"
                   for key, what in (("class_names", "class names"), ("modality", "modality tags"))
                   if first[key] != second[key]]
    if first.get("recipe", "") != second.get("recipe", ""):  # stored since recipes came: none before
        differences.append(f"it is read {_recipe_text(second)}, not {_recipe_text(first)}")
    return differences


def _recipe_text(entry: dict) -> str:
    return f"with the recipe {entry['recipe']}" if entry.get("recipe") else "without a recipe"


def check_datasets(entries: List[dict]) -> None:
    """Within one run: sources that share a data set name must declare the same classes and tags."""
    first: Dict[str, dict] = {}
    for entry in entries:
        other = first.setdefault(entry["dataset"], entry)
        differences = _dataset_differences(other, entry)
        if differences:
            raise SettingsError(_conflict(entry["dataset"], other["source"], entry["source"], differences))


def fix_datasets(out: Path, entries: List[dict], plan: Dict[str, str]) -> None:
    """Stores each data set's classes and tags at its first start; refuses a source that
    gives a stored data set name other classes, tags or recipe, and a source OUT holds
    under another data set name (``plan``: case key -> source, as runs left it): its
    images would be there twice."""
    check_datasets(entries)
    for entry in entries:
        others = sorted({key.split("--", 1)[0] for key, source in plan.items()
                         if source == entry["source"]} - {entry["dataset"]})
        if others:
            raise SettingsError(f"{entry['source']} is in OUT as data set {others[0]!r}: converting it as "
                                f"{entry['dataset']!r} would hold its images twice. Give --dataset {others[0]} "
                                f"(and the recipe it was read with), or convert into a new OUT")
    for entry in entries:
        path = Path(out) / STATE_DIR / "datasets" / f"{entry['dataset']}.json"
        if _create_once(path, entry):
            continue
        stored = _read(path)
        differences = _dataset_differences(stored, entry)
        if differences and stored.get("source") == entry["source"]:
            raise SettingsError(f"data set {entry['dataset']!r} of {entry['source']} was converted into OUT "
                                f"otherwise: {'; '.join(differences)}. Run with the settings OUT was started "
                                f"with, or convert into a new OUT")
        if differences:
            raise SettingsError(_conflict(entry["dataset"], stored.get("source", "?"), entry["source"], differences))


def load_datasets(out: Path) -> Dict[str, dict]:
    folder = Path(out) / STATE_DIR / "datasets"
    return {p.stem: _read(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _conflict(dataset: str, first: str, second: str, differences: List[str]) -> str:
    return (f"data set {dataset!r} of {second} is not the one of {first}: {'; '.join(differences)}. One data "
            f"set name cannot mean two sets of classes: give one of them another name with --dataset")
