"""``samed2d verify``: is an output folder complete and consistent?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np
from PIL import Image

from .metadata import RELEASE_JSON
from .naming import parse_image_path, parse_mask_path


def _decode(path: Path):
    with Image.open(path) as im:
        im.load()
        return im.mode, np.asarray(im)


def verify_output(out: Path) -> List[str]:
    """One line per problem; an empty list means OUT is fine."""
    problems: List[str] = []
    try:
        index = json.loads((out / RELEASE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{out / RELEASE_JSON}: cannot read ({exc})"]
    listed = set()
    for image, masks in sorted(index.items()):
        listed.add(image)
        try:
            parse_image_path(image)
            _, pixels = _decode(out / image)
        except (OSError, ValueError) as exc:
            problems.append(f"{image}: {exc}")
            continue
        for mask in masks:
            listed.add(mask)
            try:
                if parse_mask_path(mask).image_stem != image[len("images/"):-len(".png")]:
                    problems.append(f"{mask}: does not belong to {image}")
                mode, values = _decode(out / mask)
            except (OSError, ValueError) as exc:
                problems.append(f"{mask}: {exc}")
                continue
            if mode != "L" or values.shape != pixels.shape[:2]:
                problems.append(f"{mask}: mode {mode} {values.shape}, expected L {pixels.shape[:2]}")
            elif not np.isin(values, (0, 255)).all():
                problems.append(f"{mask}: values other than 0 and 255")
    for sub in ("images", "masks"):
        for path in sorted((out / sub).glob("*")) if (out / sub).is_dir() else []:
            name = f"{sub}/{path.name}"
            if name not in listed:
                problems.append(f"{name}: not listed in {RELEASE_JSON}")
    return problems
