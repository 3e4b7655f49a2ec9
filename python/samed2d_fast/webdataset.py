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
every shard is in place.
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
from .output import json_bytes, write_json
from .record import CaseRecord

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


def _sample(out: Path, rec: CaseRecord, image: str) -> List[Tuple[str, bytes]]:
    key = sample_key(image)
    names = {field: name for name, field in rec.classes.items()}
    members = [(f"{key}.png", (out / image).read_bytes())]
    described = []
    for mask, (area, r0, c0, r1, c1) in zip(rec.images[image], rec.mask_boxes[image]):
        parsed = parse_mask_path(mask)
        members.append((f"{key}.{parsed.class_field}_{parsed.instance:03d}.png", (out / mask).read_bytes()))
        described.append({"file": mask, "class": names.get(parsed.class_field, parsed.class_field),
                          "class_id": parsed.class_field, "instance": parsed.instance,
                          "area": area, "bbox": [r0, c0, r1, c1]})
    info = {"image": image, "dataset": rec.dataset, "case": rec.case, "masks": described}
    members.append((f"{key}.json", json_bytes(info)))
    return members


def is_packed(out: Path) -> bool:
    return (Path(out) / FOLDER / INDEX).exists()


def pack(out: Path, records: List[CaseRecord], shard_size: int) -> int:
    """Writes the shards and their index from the converted files; returns the shard count.

    An output packed before is left as it is when its index already lists exactly
    these samples (its loose files are gone); adding cases to it is refused.
    """
    out = Path(out)
    folder = out / FOLDER
    samples = sorted((sample_key(image), rec, image) for rec in records for image in rec.images)
    collisions = key_collisions(records)
    if collisions:
        detail = "; ".join(" and ".join(v) for v in collisions.values())
        raise ValueError(f"WebDataset keys collide (names differ only by '.' and '_'): {detail}")
    if is_packed(out):
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        loose = [(out / image).exists() for _, _, image in samples]
        if sorted(index) == [key for key, _, _ in samples] and not any(loose):
            return len(set(index.values()))
        if not all(loose):
            raise ValueError(f"{out} was packed as WebDataset shards and its loose files are gone: "
                             f"convert more cases into a new OUT")
    folder.mkdir(parents=True, exist_ok=True)
    index: Dict[str, str] = {}
    shards: List[str] = []
    tar, size = None, 0
    try:
        for key, rec, image in samples:
            members = _sample(out, rec, image)
            sample_size = sum(512 + len(data) + 511 for _, data in members)
            if tar is None or (size > 0 and size + sample_size > shard_size):
                if tar is not None:
                    tar.close()
                shards.append(f"shard-{len(shards):06d}.tar")
                tar = tarfile.open(folder / f".{shards[-1]}.tmp", "w", format=tarfile.PAX_FORMAT)
                size = 0
            for name, data in members:
                _member(tar, name, data)
            size += sample_size
            index[key] = shards[-1]
    finally:
        if tar is not None:
            tar.close()
    for name in shards:
        os.replace(folder / f".{name}.tmp", folder / name)
    for stale in folder.glob("shard-*.tar"):
        if stale.name not in shards:
            stale.unlink()
    write_json(folder / INDEX, index)
    for _, rec, image in samples:  # only now that every shard is in place
        for path in [image, *rec.images[image]]:
            (out / path).unlink(missing_ok=True)
    for sub in ("images", "masks"):
        if (out / sub).is_dir() and not any((out / sub).iterdir()):
            (out / sub).rmdir()
    return len(shards)
