"""``samed2d verify``: is an output folder complete and consistent?"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import List

import numpy as np
from PIL import Image

from . import webdataset
from .metadata import RELEASE_JSON
from .naming import parse_image_path, parse_mask_path


def _decode(source):
    with Image.open(source) as im:
        im.load()
        return im.mode, np.asarray(im)


def _check_masks(image: str, masks: List[str], pixels: np.ndarray, read, problems: List[str]) -> None:
    """Every mask parses, belongs to ``image``, decodes as 0/255 grey of the image's size."""
    stem = image[len("images/"):-len(".png")]
    for mask in masks:
        try:
            if parse_mask_path(mask).image_stem != stem:
                problems.append(f"{mask}: does not belong to {image}")
            mode, values = _decode(read(mask))
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{mask}: {exc}")
            continue
        if mode != "L" or values.shape != pixels.shape[:2]:
            problems.append(f"{mask}: mode {mode} {values.shape}, expected L {pixels.shape[:2]}")
        elif not np.isin(values, (0, 255)).all():
            problems.append(f"{mask}: values other than 0 and 255")


def verify_output(out: Path) -> List[str]:
    """One line per problem; an empty list means OUT is fine."""
    try:
        index = json.loads((out / RELEASE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{out / RELEASE_JSON}: cannot read ({exc})"]
    if webdataset.is_packed(out):
        return _verify_shards(out, index)
    problems: List[str] = []
    listed = set()
    for image, masks in sorted(index.items()):
        listed.add(image)
        listed.update(masks)
        try:
            parse_image_path(image)
            _, pixels = _decode(out / image)
        except (OSError, ValueError) as exc:
            problems.append(f"{image}: {exc}")
            continue
        _check_masks(image, masks, pixels, lambda name: out / name, problems)
    for sub in ("images", "masks"):
        for path in sorted((out / sub).glob("*")) if (out / sub).is_dir() else []:
            name = f"{sub}/{path.name}"
            if name not in listed:
                problems.append(f"{name}: not listed in {RELEASE_JSON}")
    return problems


def _verify_shards(out: Path, index: dict) -> List[str]:
    """The WebDataset form: every listed image is a sample of the shard the index names,
    holding its image, its masks and its JSON, and no shard holds anything else."""
    problems: List[str] = []
    folder = out / webdataset.FOLDER
    try:
        shard_of = json.loads((folder / webdataset.INDEX).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{folder / webdataset.INDEX}: cannot read ({exc})"]
    members = {}
    for shard in sorted(set(shard_of.values())):
        try:
            with tarfile.open(folder / shard) as tar:
                members.update({(shard, m.name): tar.extractfile(m).read() for m in tar.getmembers()})
        except (OSError, tarfile.TarError) as exc:
            problems.append(f"{folder / shard}: {exc}")
    expected = set()
    for image, masks in sorted(index.items()):
        key = webdataset.sample_key(image)
        shard = shard_of.get(key)
        if shard is None:
            problems.append(f"{image}: no sample {key} in {webdataset.INDEX}")
            continue
        names = {m: f"{key}.{parse_mask_path(m).class_field}_{parse_mask_path(m).instance:03d}.png" for m in masks}
        expected.update((shard, n) for n in [f"{key}.png", f"{key}.json", *names.values()])
        try:
            _, pixels = _decode(io.BytesIO(members[(shard, f"{key}.png")]))
        except (KeyError, OSError) as exc:
            problems.append(f"{image}: sample image missing or unreadable in {shard} ({exc})")
            continue
        _check_masks(image, masks, pixels, lambda name: io.BytesIO(members[(shard, names[name])]), problems)
    for shard, name in sorted(set(members) - expected):
        problems.append(f"{shard}/{name}: not listed in {RELEASE_JSON}")
    return problems
