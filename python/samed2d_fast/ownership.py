"""What in OUT the tool owns, and how it claims, checks and clears it.

OUT belongs to the tool only when it carries the tool's marker,
``OUT/.samed2d/owner.json``, written before anything else. Inside an owned OUT
the tool's files are known from its manifest: the records of finished cases
and a "started" entry that each case writes before its first file, naming the
prefixes of every file it may write (``{modality}--{dataset}--{case}--``; a
cleaned field never holds ``--``, so a prefix names one case's files and no
other's). The fixed top-level files (the release JSON files, ``summary.json``,
``failures.json``), the shards and index in ``webdataset/`` and short temporary
files (``.<16 hex digits>.tmp``) are the tool's in an owned OUT.

An OUT left by a release without the marker (``.samed2d/`` with records or
settings) is adopted: its records are its manifest. Any other non-empty folder
is somebody else's: nothing is written into it.

``--overwrite`` removes only what the manifest names, and refuses an OUT whose
``images/``, ``masks/`` or ``webdataset/`` hold anything else. Clearing first
marks the OUT as being cleared, removes files before the manifest entries that
name them, and ends by marking it ready, so a run interrupted while clearing is
finished by whatever run comes next.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterable, List, Optional, Set

from . import __version__
from .metadata import CLASS_MAPPING_JSON, RELEASE_JSON, TEST_JSON, TRAIN_JSON
from .naming import SEPARATOR, parse_image_path, parse_mask_path
from .output import write_json
from .record import STATE_DIR
from .state import FAILURES_JSON, SUMMARY_JSON, load_records

MARKER = "owner.json"
TOP_LEVEL_FILES = (RELEASE_JSON, CLASS_MAPPING_JSON, TRAIN_JSON, TEST_JSON, SUMMARY_JSON, FAILURES_JSON)
FILE_FOLDERS = ("images", "masks")
WEBDATASET_FOLDER = "webdataset"
_TEMPORARY = re.compile(r"^\.[0-9a-f]{16}\.tmp$")
_SHARD_FILE = re.compile(r"^(shard-[0-9]{6}\.tar|index\.json)$")


class OwnershipError(Exception):
    """OUT is not the tool's to write or clear; the message says why, in one line."""


def is_temporary(name: str) -> bool:
    """A temporary file of an atomic write (output.write_atomic's names)."""
    return bool(_TEMPORARY.match(name))


def state_dir(out: Path) -> Path:
    return Path(out) / STATE_DIR


def image_prefix(image_stem: str) -> str:
    """``{modality}--{dataset}--{case}--`` of an image stem: the part a case decides."""
    return image_stem.rsplit(SEPARATOR, 1)[0] + SEPARATOR


def read_marker(out: Path) -> Optional[dict]:
    path = state_dir(out) / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OwnershipError(f"{path}: the output's marker cannot be read ({exc})") from None
    if not isinstance(marker, dict) or marker.get("tool") != "samed2d_fast":
        raise OwnershipError(f"{path}: not a samed2d_fast marker")
    return marker


def write_marker(out: Path, state: str) -> None:
    write_json(state_dir(out) / MARKER, {"tool": "samed2d_fast", "state": state, "version": __version__})


def status(out: Path) -> str:
    """``new`` (missing or empty), ``owned`` (marker), ``adoptable`` (a marker-less run state
    of an earlier release) or ``foreign``."""
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return "new"
    if not out.is_dir():
        return "foreign"
    if read_marker(out) is not None:
        return "owned"
    state = state_dir(out)
    if state.is_dir() and not state.is_symlink() and ((state / "records").is_dir() or (state / "settings.json").is_file()):
        return "adoptable"
    return "foreign"


def refuse_symlinks(out: Path) -> None:
    """The folders the tool creates inside OUT must be real folders: a symbolic link
    there would send its files outside OUT."""
    for name in (STATE_DIR, *FILE_FOLDERS, WEBDATASET_FOLDER):
        path = Path(out) / name
        if path.is_symlink():
            raise OwnershipError(f"{path} is a symbolic link: samed2d writes only inside OUT; "
                                 f"make it a real folder or choose another OUT")
    state = state_dir(out)
    if state.is_dir():
        for path in state.iterdir():
            if path.is_symlink():
                raise OwnershipError(f"{path} is a symbolic link inside the run state: samed2d writes only "
                                     f"inside OUT; remove the link or choose another OUT")


# ---- the manifest ------------------------------------------------------------------


def started_dir(out: Path) -> Path:
    return state_dir(out) / "started"


def save_started(out: Path, key: str, prefixes: List[str]) -> None:
    """Written by a case before its first file, so its files are known as the tool's
    even when the case is killed half-way."""
    started_dir(out).mkdir(parents=True, exist_ok=True)
    write_json(started_dir(out) / f"{key}.json", {"key": key, "prefixes": sorted(prefixes)})


def load_started(out: Path) -> dict:
    """Case key -> file prefixes of every case that started."""
    folder = started_dir(out)
    entries = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            prefixes = [str(p) for p in entry["prefixes"]]
            if entry["key"] != path.stem or not all(_is_prefix(p) for p in prefixes):
                raise ValueError("names another case")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OwnershipError(f"{path}: not a valid started entry ({exc})") from None
        entries[path.stem] = prefixes
    return entries


def _is_prefix(prefix: str) -> bool:
    try:
        parse_image_path(f"images/{prefix}z_0000.png")
    except ValueError:
        return False
    return True


def owned_prefixes(out: Path, records: Iterable) -> Set[str]:
    """Every file prefix the manifest names: started entries and records."""
    prefixes = {p for ps in load_started(out).values() for p in ps}
    for rec in records:
        prefixes.update(image_prefix(image[len("images/"):-len(".png")]) for image in rec.images)
    return prefixes


def file_prefix(folder: str, name: str) -> Optional[str]:
    """The case prefix of a file in images/ or masks/; None for a name the tool never writes."""
    try:
        if folder == "images":
            parse_image_path(name)
            return image_prefix(name[: -len(".png")])
        return image_prefix(parse_mask_path(name).image_stem)
    except ValueError:
        return None


def _listing(folder: Path) -> List[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def foreign_files(out: Path, prefixes: Set[str]) -> List[str]:
    """Files in images/, masks/ and webdataset/ that the manifest does not name."""
    out = Path(out)
    foreign = []
    for folder in FILE_FOLDERS:
        for name in _listing(out / folder):
            if not is_temporary(name) and file_prefix(folder, name) not in prefixes:
                foreign.append(f"{folder}/{name}")
    for name in _listing(out / WEBDATASET_FOLDER):
        if not (_SHARD_FILE.match(name) or is_temporary(name)):
            foreign.append(f"{WEBDATASET_FOLDER}/{name}")
    return foreign


def remove_case_files(out: Path, prefixes: Set[str]) -> int:
    """Removes the files in images/ and masks/ of the given case prefixes; returns how many."""
    removed = 0
    for folder in FILE_FOLDERS:
        for name in _listing(Path(out) / folder):
            if file_prefix(folder, name) in prefixes:
                (Path(out) / folder / name).unlink(missing_ok=True)
                removed += 1
    return removed


def remove_temporary_files(out: Path) -> None:
    """Temporary files of writes a killed run never finished: in every folder the tool
    writes to but the locks' (whose holders may be alive). Only for a run holding all of OUT."""
    state = state_dir(out)
    folders = [".", *FILE_FOLDERS, WEBDATASET_FOLDER, STATE_DIR,
               *(f"{STATE_DIR}/{name}" for name in _listing(state) if name != "locks" and (state / name).is_dir())]
    for sub in folders:
        for name in _listing(Path(out) / sub):
            if is_temporary(name):
                (Path(out) / sub / name).unlink(missing_ok=True)


# ---- claiming and clearing ------------------------------------------------------------


def claim(out: Path) -> str:
    """Makes OUT the tool's: creates it with the marker first, adopts an earlier release's
    output, or refuses somebody else's folder. Returns the status it found."""
    out = Path(out)
    refuse_symlinks(out)
    found = status(out)
    if found == "foreign":
        what = "is not a folder" if out.exists() and not out.is_dir() else "is not empty and holds no samed2d output"
        raise OwnershipError(f"{out} {what} (no {STATE_DIR}/{MARKER}): samed2d writes only into a new or empty "
                             f"folder, or one it wrote before; choose another OUT")
    refuse_symlinks(out)
    if found in ("new", "adoptable"):
        state_dir(out).mkdir(parents=True, exist_ok=True)
        write_marker(out, "ready")
    return found


def clear(out: Path, records: list) -> None:
    """--overwrite: removes every file the manifest names, and the run state, crash-safely.

    Refuses (before removing anything) when images/, masks/ or webdataset/ hold a
    file the manifest does not name.
    """
    out = Path(out)
    prefixes = owned_prefixes(out, records)
    foreign = foreign_files(out, prefixes)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OwnershipError(f"{out / foreign[0]}{more} not written by samed2d: --overwrite removes only "
                             f"samed2d's own files and nothing here was removed; move those files away or "
                             f"choose another OUT")
    write_marker(out, "clearing")
    finish_clearing(out, prefixes)


def finish_clearing(out: Path, prefixes: Optional[Set[str]] = None) -> None:
    """Files first, then the manifest that names them, then the marker says ready."""
    out = Path(out)
    if prefixes is None:
        prefixes = owned_prefixes(out, load_records(out))
    for name in TOP_LEVEL_FILES:
        (out / name).unlink(missing_ok=True)
    remove_temporary_files(out)
    for name in _listing(out / WEBDATASET_FOLDER):
        if _SHARD_FILE.match(name):
            (out / WEBDATASET_FOLDER / name).unlink()
    remove_case_files(out, prefixes)
    for folder in (*FILE_FOLDERS, WEBDATASET_FOLDER):
        if (out / folder).is_dir() and not any((out / folder).iterdir()):
            (out / folder).rmdir()
    state = state_dir(out)
    for entry in sorted(state.iterdir()) if state.is_dir() else []:
        if entry.name in (MARKER, "locks"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    write_marker(out, "ready")


def is_clearing(out: Path) -> bool:
    marker = read_marker(out)
    return marker is not None and marker.get("state") == "clearing"
