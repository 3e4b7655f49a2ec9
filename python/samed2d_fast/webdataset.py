"""WebDataset tar shards of an output (``--format webdataset``): a few large files
instead of millions of small ones.

One sample per image: ``<key>.png``, each mask as ``<key>.<class_id>_<instance>.png``
and ``<key>.json`` (data set, case, and per mask its file, class, id, instance,
area and box). WebDataset splits a member name at its first ``.``, so the key is
the image stem with every ``.`` replaced by ``_``; the JSON keeps the real names.
Shards are packed when the metadata is written, after ids are final, from the
converted files, in sorted key order, cut at ``shard_size`` bytes, with fixed
names and a fixed tar header (mtime 0, root, 0644), so they are the same bytes
for any run, worker count, resume or merge. The loose PNGs are removed once
every shard and the index are in place and on disk (see ``pack``). In a packed
output the split files name the members: ``webdataset/<shard>/<key>.png``.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

from .naming import parse_mask_path
from .output import inside, json_bytes, temporary_name, write_json
from .record import STATE_DIR, CaseRecord
from .state import StateError

FOLDER = "webdataset"
INDEX = "index.json"
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str) -> int:
    """``1GB``, ``500MB``, ``2GiB`` or a number of bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (e.g. 1GB, 500MB)")
    unit = (match[2] or "").lower().rstrip("b")
    return max(1, int(float(match[1]) * _UNITS[unit]))


def sample_key(image: str) -> str:
    """``images/<stem>.png`` -> the WebDataset key of its sample."""
    return image[len("images/"):-len(".png")].replace(".", "_")


def key_collisions(records: List[CaseRecord]) -> Dict[str, List[str]]:
    """Images of different names whose keys are equal (they differ only by ``.`` and ``_``)."""
    by_key: Dict[str, List[str]] = {}
    for rec in records:
        for image in rec.images:
            by_key.setdefault(sample_key(image), []).append(image)
    return {k: v for k, v in by_key.items() if len(v) > 1}


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _sample(rec: CaseRecord, image: str, read) -> List[Tuple[str, bytes]]:
    """The members of one image's sample; ``read(output name, member name)`` gives a file's bytes."""
    key = sample_key(image)
    names = {field: name for name, field in rec.classes.items()}
    members = [(f"{key}.png", read(image, f"{key}.png"))]
    described = []
    for mask, (area, r0, c0, r1, c1) in zip(rec.images[image], rec.mask_boxes[image]):
        parsed = parse_mask_path(mask)
        member = f"{key}.{parsed.class_field}_{parsed.instance:03d}.png"
        members.append((member, read(mask, member)))
        described.append({"file": mask, "class": names.get(parsed.class_field, parsed.class_field),
                          "class_id": parsed.class_field, "instance": parsed.instance,
                          "area": area, "bbox": [r0, c0, r1, c1]})
    info = {"image": image, "dataset": rec.dataset, "case": rec.case, "masks": described}
    members.append((f"{key}.json", json_bytes(info)))
    return members


def is_packed(out: Path) -> bool:
    return (Path(out) / FOLDER / INDEX).exists()


_SHARD_NAME = re.compile(r"^shard-[0-9]{6}\.tar$")


def load_index(out: Path) -> Dict[str, str]:
    """Sample key -> shard of a packed output ({} when not packed), checked: its values are file names."""
    path = Path(out) / FOLDER / INDEX
    if not path.exists():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(index, dict) or not all(isinstance(v, str) and _SHARD_NAME.match(v) for v in index.values()):
            raise ValueError("expected {sample key: shard-NNNNNN.tar}")
    except ValueError as exc:
        raise StateError(f"{path}: not a valid shard index ({exc})") from None
    return index


def packed_keys(out: Path) -> set:
    """Keys of the samples that a complete packing holds (their shards are all there)."""
    index = load_index(out)
    folder = Path(out) / FOLDER
    present = {shard for shard in set(index.values()) if (folder / shard).is_file()}
    return {key for key, shard in index.items() if shard in present}


def member_locator(shard_of: Dict[str, str]):
    """An output name -> where its bytes are in a packed output: ``webdataset/<shard>/<member>``."""
    def locate(name: str) -> str:
        if name.startswith("images/"):
            key = sample_key(name)
            return f"{FOLDER}/{shard_of[key]}/{key}.png"
        parsed = parse_mask_path(name)
        key = sample_key(f"images/{parsed.image_stem}.png")
        return f"{FOLDER}/{shard_of[key]}/{key}.{parsed.class_field}_{parsed.instance:03d}.png"
    return locate


class _Members:
    """Reads a sample's files: loose in OUT, else from the shard that held it before
    (a resumed or extended packed output whose loose files are gone)."""

    def __init__(self, out: Path):
        self.out = out
        self.index = load_index(out)
        self.tars: Dict[str, tarfile.TarFile] = {}

    def read(self, name: str, key: str, member: str) -> bytes:
        path = self.out / name
        if path.is_file() and not path.is_symlink():
            return path.read_bytes()
        shard = self.index.get(key)
        try:
            if shard not in self.tars:
                self.tars[shard] = tarfile.open(self.out / FOLDER / shard)
            data = self.tars[shard].extractfile(member)
            return data.read()
        except (TypeError, KeyError, AttributeError, OSError, tarfile.TarError):
            raise StateError(f"{path}: missing, and not in the packed shards either") from None

    def close(self) -> None:
        for tar in self.tars.values():
            tar.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pack(out: Path, records: List[CaseRecord], shard_size: int) -> Dict[str, str]:
    """Writes the shards and their index; returns sample key -> shard.

    A transaction: every new shard is written and fsynced under a temporary name,
    then a journal (the renames and the new index) is written and fsynced, and only
    then are shards renamed, the index written and the loose files removed
    (``recover`` replays the journal after a crash). Samples come from the loose
    files, or from the shards of an earlier packing when those are gone, so a
    packed output can be resumed, repaired and extended.
    """
    out = Path(out)
    folder = out / FOLDER
    samples = sorted((sample_key(image), rec, image) for rec in records for image in rec.images)
    collisions = key_collisions(records)
    if collisions:
        detail = "; ".join(" and ".join(v) for v in collisions.values())
        raise StateError(f"WebDataset keys collide (names differ only by '.' and '_'): {detail}")
    folder.mkdir(parents=True, exist_ok=True)
    index: Dict[str, str] = {}
    temporary: Dict[str, str] = {}  # shard -> its temporary file
    members = _Members(out)
    tar, size = None, 0
    try:
        for key, rec, image in samples:
            sample = _sample(rec, image, lambda name, member: members.read(name, key, member))
            sample_size = sum(512 + len(data) + 511 for _, data in sample)
            if tar is None or (size > 0 and size + sample_size > shard_size):
                if tar is not None:
                    tar.close()
                shard = f"shard-{len(temporary):06d}.tar"
                temporary[shard] = temporary_name()
                tar = tarfile.open(folder / temporary[shard], "w", format=tarfile.PAX_FORMAT)
                size = 0
            for name, data in sample:
                _member(tar, name, data)
            size += sample_size
            index[key] = shard
    finally:
        if tar is not None:
            tar.close()
        members.close()
    for name in temporary.values():
        _fsync(folder / name)
    journal = {"renames": sorted([t, s] for s, t in temporary.items()), "index": index,
               "loose": [p for _, rec, image in samples for p in [image, *rec.images[image]]]}
    write_json(_journal_path(out), journal)
    _fsync(_journal_path(out))
    _apply(out, journal)
    return index


def _journal_path(out: Path) -> Path:
    return Path(out) / STATE_DIR / "packing.json"


def _apply(out: Path, journal: dict) -> None:
    """Renames the new shards, removes stale ones, writes the index, removes the loose
    files: each step idempotent, so a replay after a crash at any point ends the same."""
    folder = Path(out) / FOLDER
    renames = [(str(t), str(s)) for t, s in journal["renames"]]
    if not all(_SHARD_NAME.match(s) and re.match(r"^\.[0-9a-f]{16}\.tmp$", t) for t, s in renames):
        raise StateError(f"{_journal_path(out)}: not a valid packing journal")
    for tmp, shard in renames:
        if (folder / tmp).exists():
            os.replace(folder / tmp, folder / shard)
    keep = {s for _, s in renames}
    for stale in folder.glob("shard-*.tar"):
        if stale.name not in keep:
            stale.unlink()
    write_json(folder / INDEX, journal["index"])
    _fsync(folder / INDEX)
    for name in journal["loose"]:
        Path(inside(out, name)).unlink(missing_ok=True)
    for sub in ("images", "masks"):
        if (Path(out) / sub).is_dir() and not any((Path(out) / sub).iterdir()):
            (Path(out) / sub).rmdir()
    _journal_path(out).unlink()


def recover(out: Path) -> None:
    """Finishes a packing that a crash interrupted after its journal was written."""
    path = _journal_path(out)
    if not path.exists():
        return
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StateError(f"{path}: cannot read the packing journal ({exc})") from None
    _apply(Path(out), journal)
