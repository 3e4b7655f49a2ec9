"""Synthetic phantoms for ``samed2d demo`` (made in code; nothing is downloaded).

``make_ct_phantom`` builds an abdominal CT-like volume (int16, Hounsfield-like units,
axes (x, y, z) = RAS+: axis 0 towards the patient's right, axis 1 anterior, axis 2
superior) with a uint8 label map. Air (-1000) surrounds an elliptical body of
subcutaneous fat (-100), a muscle wall (50) and visceral fat; the body itself is not
labelled, so every class is an organ or lesion mask. Each feature exercises one rule
of the SA-Med2D-20M conversion:

* organs (liver, spleen, kidneys, stomach with an air bubble, pancreas, aorta,
  inferior vena cava, vertebra, gallbladder, urinary bladder): smooth, jittered
  ellipsoids at plausible places, each with its own intensity -- ordinary masks;
* ``liver_tumor`` / ``kidney_tumor`` lie strictly inside their organ on every slice
  -- *containment consolidation* (an enclosed mask is merged into its enclosing one);
* ``bladder_wall`` is a ring around the ``urinary_bladder`` (urine) cavity, and the
  vertebra's posterior arch rings an *unlabelled* spinal canal -- *holes found by
  complementary connectivity*, with a labelled and with a background cavity;
* ``vessel``: 1-2 voxel thick tubes, one running through z (a dot per slice), one
  running in-plane (a thin line on a few slices) -- *thin structures*;
* ``calcification``: specks of 2-30 voxels -- the *small-mask filter* drops them.

``make_colour_phantom`` builds a dermoscopy/endoscopy-like RGB picture: mottled skin
with an irregular pigmented ``lesion`` containing an ``erosion`` (containment again)
and two separate ``polyp`` instances (one class, two connected components).

``write_demo_dataset`` writes both as users have them: ``PhantomCT`` in the nnU-Net
v2 / MSD layout and ``PhantomDerm`` as PNG images + value-coded PNG masks.
All randomness comes from ``numpy.random.default_rng(seed)``, so output is deterministic.
"""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

CT_CLASSES: dict[int, str] = {
    1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right", 5: "stomach",
    6: "pancreas", 7: "aorta", 8: "inferior_vena_cava", 9: "vertebra", 10: "gallbladder",
    11: "urinary_bladder", 12: "bladder_wall", 13: "liver_tumor", 14: "kidney_tumor",
    15: "vessel", 16: "calcification",
}
_ID = {name: value for value, name in CT_CLASSES.items()}
# The demo's CT grid: its x and y slices (192x112) pass the aspect filter (SPEC section 3),
# so the demo shows the paper's slicing along all three axes (fewer than 96 slices would keep
# z slices only), and the demo takes as long as a 256x256x64 one did.
DEMO_CT_SHAPE = (192, 192, 112)
# name: (centre (u, v, w), radii, HU). u, v in [-1, 1] across the x / y extent (+u = patient's
# right, +v = anterior, as RAS+), w in [0, 1] along z (inferior -> superior).
_ORGANS = {
    "liver": ((0.36, 0.05, 0.78), (0.32, 0.36, 0.30), 60),
    "spleen": ((-0.52, -0.22, 0.74), (0.13, 0.18, 0.18), 50),
    "stomach": ((-0.28, 0.22, 0.76), (0.20, 0.16, 0.16), 25),
    "pancreas": ((-0.08, -0.02, 0.56), (0.26, 0.06, 0.07), 45),
    "kidney_left": ((-0.36, -0.36, 0.46), (0.11, 0.13, 0.20), 150),
    "kidney_right": ((0.36, -0.36, 0.42), (0.11, 0.13, 0.20), 150),
    "gallbladder": ((0.20, 0.30, 0.60), (0.06, 0.07, 0.09), 5),
}
# lesion: (organ, centre offset and radii as fractions of the organ radii, HU)
_LESIONS = {"liver_tumor": ("liver", (0.30, -0.20, 0.0), 0.28, 20),
            "kidney_tumor": ("kidney_left", (0.10, 0.25, -0.15), 0.35, 60)}
_HU = {**{k: v[2] for k, v in _ORGANS.items()}, "aorta": 180, "inferior_vena_cava": 130,
       "urinary_bladder": 5, "bladder_wall": 45, "vessel": 170, "calcification": 900,
       **{k: v[3] for k, v in _LESIONS.items()}}


def _ellipsoid(grid, centre, radii, rng=None, wobble=0.0):
    """Boolean ellipsoid on an ogrid; ``wobble`` adds a smooth low-frequency bump to the boundary.

    Evaluated in its bounding box only (the bump moves the boundary out by at most a
    factor sqrt(1 + wobble)): an organ is a few % of the volume, and a bounding box of
    the whole volume made the phantom three times slower.
    """
    shape, reach = tuple(g.size for g in grid), np.sqrt(1.0 + wobble) + 1e-3
    box = []
    for g, c, r in zip(grid, centre, radii):
        near = np.flatnonzero(np.abs(g.ravel() - c) <= reach * abs(r))
        box.append(slice(near[0], near[-1] + 1) if near.size else slice(0, 0))
    grid = [g[tuple(box[a] if a == axis else slice(None) for a in range(3))] for axis, g in enumerate(grid)]
    r2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii))
    if wobble:
        f, p = rng.uniform(1.5, 4.0, 3), rng.uniform(0, 2 * np.pi, 3)
        bump = np.ones((1, 1, 1), np.float32)
        for g, c, r, fi, pi in zip(grid, centre, radii, f, p):
            bump = bump * np.sin(fi * (g - c) / r + pi)
        r2 = r2 + wobble * bump
    mask = np.zeros(shape, bool)
    mask[tuple(box)] = r2 <= 1.0
    return mask


def make_ct_phantom(shape=DEMO_CT_SHAPE, seed=0) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Return (int16 HU volume, uint8 label map, {label value: class name}), all (x, y, z)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    i, j, k = np.ogrid[:nx, :ny, :nz]
    u = ((i - (nx - 1) / 2) / (nx / 2)).astype(np.float32)  # -1 .. 1, patient left -> right
    v = ((j - (ny - 1) / 2) / (ny / 2)).astype(np.float32)  # -1 .. 1, posterior -> anterior
    w = ((k + 0.5) / nz).astype(np.float32)  # 0 .. 1, inferior -> superior
    g = (u, v, w)
    lab = np.zeros(shape, np.uint8)
    hu = np.full(shape, -1000.0, np.float32)

    # Unlabelled body: fat, muscle wall, visceral fat, paraspinal muscles.
    body = (u / 0.90) ** 2 + (v / 0.72) ** 2 + 0 * w
    hu[body <= 1.0] = -100
    hu[(body <= 0.84 ** 2) & (body > 0.77 ** 2)] = 50
    hu[body <= 0.77 ** 2] = -90
    for side in (-1, 1):
        hu[_ellipsoid(g, (0.17 * side, -0.55, 0.5), (0.10, 0.09, 9.0))] = 50

    def paint(name, mask, where=None):
        mask = mask if where is None else mask & where
        lab[mask] = _ID[name]
        hu[mask] = _HU[name]

    placed = {}  # per-case anatomical variation: jittered centres and radii
    for name, (centre, radii, _) in _ORGANS.items():
        c, r = np.add(centre, rng.uniform(-0.02, 0.02, 3)), np.multiply(radii, rng.uniform(0.95, 1.05, 3))
        placed[name] = (c, r)
        paint(name, _ellipsoid(g, c, r, rng, wobble=0.15))
    hu[(lab == _ID["stomach"]) & (v > placed["stomach"][0][1] + 0.6 * placed["stomach"][1][1])] = -950

    # Vertebral column: body (cortex + cancellous bone) and an arch ringing the spinal canal.
    vb = (u / 0.10) ** 2 + ((v + 0.42) / 0.09) ** 2 + 0 * w  # vertebral body
    canal = u ** 2 + (v + 0.57) ** 2 + 0 * w
    disc = ((k * 2.5) % 32.0 < 5.0) & (vb <= 1.0)  # intervertebral discs: unlabelled
    vert = ((vb <= 1.0) | ((canal <= 0.085 ** 2) & (canal > 0.045 ** 2))) & ~disc
    lab[vert] = _ID["vertebra"]
    hu[vert] = np.where(vb[vert] > 0.7, 1100, 400 + 150 * rng.random(int(vert.sum())))
    hu[canal <= 0.045 ** 2] = 20  # spinal canal: an unlabelled hole in the vertebra
    hu[disc] = 80

    # Great vessels: tubes along z.
    paint("aorta", ((u + 0.06) ** 2 + (v + 0.24) ** 2 <= 0.05 ** 2) & (w > 0.2))
    paint("inferior_vena_cava", (((u - 0.11) / 1.2) ** 2 + (v + 0.21) ** 2 <= 0.05 ** 2) & (w > 0.12))

    # Urinary bladder: a wall (ring on each slice) around a urine-filled cavity.
    bc, br = np.add((0.0, 0.25, 0.16), rng.uniform(-0.02, 0.02, 3)), (0.17, 0.14, 0.12)
    paint("bladder_wall", _ellipsoid(g, bc, np.add(br, 0.035)))
    paint("urinary_bladder", _ellipsoid(g, bc, br))

    # Lesions strictly inside their organ (margin guaranteed: offset + size + wobble < 1).
    for name, (organ, offset, size, _) in _LESIONS.items():
        c, r = placed[organ]
        paint(name, _ellipsoid(g, c + np.multiply(offset, r), np.multiply(r, size), rng, 0.1),
              lab == _ID[organ])

    # Thin vessels (painted only over unlabelled tissue): one through z, one in-plane.
    free = lab == 0
    xc = nx * (0.35 + 0.015 * np.sin(2 * np.pi * 1.5 * w + rng.uniform(0, 6)))
    yc = ny * (0.72 + 0.01 * np.cos(2 * np.pi * w))
    paint("vessel", (i - xc) ** 2 + (j - yc) ** 2 <= 0.8 ** 2, free)
    ycurve = ny * 0.58 + 6 * np.sin(2 * np.pi * i / 80 + rng.uniform(0, 6))
    zcurve = nz * 0.45 + 1.0 * (i - nx / 2) / (0.3 * nx)
    paint("vessel", ((j - ycurve) ** 2 <= 0.8) & (np.abs(k - zcurve) < 0.5) & (np.abs(u) < 0.3), free)

    # Calcification specks: 2-30 voxels each, in free visceral tissue (loop over specks only).
    for _ in range(8):
        for _attempt in range(50):
            p = (int(nx * rng.uniform(0.3, 0.7)), int(ny * rng.uniform(0.3, 0.65)), int(rng.integers(3, nz - 3)))
            if lab[p] == 0 and body[p[0], p[1], 0] < 0.7 ** 2:
                break
        rxy, rz = rng.uniform(1.0, 1.8), rng.uniform(0.6, 1.5)
        sl = tuple(slice(q - 3, q + 4) for q in p)
        di, dj, dk = np.ogrid[-3:4, -3:4, -3:4]
        speck = ((di ** 2 + dj ** 2) / rxy ** 2 + dk ** 2 / rz ** 2 <= 1.0) & (lab[sl] == 0)
        lab[sl][speck] = _ID["calcification"]
        hu[sl][speck] = _HU["calcification"]

    hu += rng.normal(0.0, 12.0, shape).astype(np.float32)
    ct = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return ct, lab, dict(CT_CLASSES)


def _smooth_noise(rng, shape, cells=8):
    """Smooth random field in [0, 1] of ``shape`` (bicubic upsampling of a coarse grid)."""
    small = Image.fromarray(rng.random((cells, cells)).astype(np.float32))
    return np.clip(np.asarray(small.resize(shape[::-1], Image.Resampling.BICUBIC)), 0, 1)


COLOUR_CLASSES: dict[int, str] = {1: "lesion", 2: "polyp", 3: "erosion"}


def make_colour_phantom(shape=(384, 512), seed=0) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Return (RGB uint8 image (H, W, 3), uint8 label map (H, W), {label value: class name})."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.ogrid[:h, :w]
    s = min(h, w)
    img = np.array([226, 174, 142], np.float32) * (0.88 + 0.2 * _smooth_noise(rng, shape, 10))[..., None]
    img *= (1.0 - 0.35 * (((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2))[..., None]  # vignette
    lab = np.zeros(shape, np.uint8)

    # Irregular pigmented lesion: polar radius with a few random harmonics; darker core.
    cy, cx = h * rng.uniform(0.42, 0.58), w * rng.uniform(0.35, 0.45)
    theta, rad = np.arctan2(y - cy, x - cx), np.hypot(y - cy, x - cx)
    edge = 0.25 * s * (1 + sum(rng.uniform(0.03, 0.09) * np.cos(n * theta + rng.uniform(0, 6))
                                for n in range(2, 7)))
    lesion = rad <= edge
    t = np.clip(rad / edge, 0, 1)[..., None]
    mottle = _smooth_noise(rng, shape, 24)[..., None]
    brown = np.array([70, 42, 30], np.float32) * (1 - t) + np.array([150, 98, 70], np.float32) * t
    img = np.where(lesion[..., None], brown * (0.8 + 0.4 * mottle), img)
    lab[lesion] = 1
    # Erosion: a pale patch well inside the lesion.
    ero = ((x - cx - 0.05 * s) / (0.07 * s)) ** 2 + ((y - cy + 0.03 * s) / (0.05 * s)) ** 2 <= 1
    img[ero] = np.array([205, 150, 150]) * (0.9 + 0.2 * mottle[ero])
    lab[ero] = 3

    # Two polyps (one class, two instances): shaded red domes with a specular highlight.
    for fy, fx, fr in ((0.27, 0.80, 0.09), (0.74, 0.78, 0.065)):
        py, px, pr = h * fy + rng.uniform(-5, 5), w * fx + rng.uniform(-5, 5), s * fr
        d = np.hypot(y - py, x - px) / pr
        dome = d <= 1
        shade = (1.0 - 0.45 * d ** 2)[..., None]
        img = np.where(dome[..., None], np.array([215, 95, 90], np.float32) * shade, img)
        img[np.hypot(y - py + 0.35 * pr, x - px + 0.3 * pr) <= 0.15 * pr] = 250
        lab[dome] = 2

    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), lab, dict(COLOUR_CLASSES)


def write_demo_dataset(root: Path, seed=0) -> dict:
    """Write ``root/PhantomCT`` (nnU-Net v2 layout) and ``root/PhantomDerm`` (PNG); describe them.

    Returns ``{"PhantomCT": {...}, "PhantomDerm": {...}}``, each with the data set's
    ``root``, ``images``, ``labels`` (lists of str paths) and ``classes`` ({value: name}).
    """
    root = Path(root)
    ct_root, derm_root = root / "PhantomCT", root / "PhantomDerm"
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    ct = {"root": str(ct_root), "images": [], "labels": [], "classes": dict(CT_CLASSES)}
    for sub in ("imagesTr", "labelsTr"):
        (ct_root / sub).mkdir(parents=True, exist_ok=True)
    for case in range(2):
        vol, lab, _ = make_ct_phantom(DEMO_CT_SHAPE, seed + case)
        img_path = ct_root / "imagesTr" / f"phantom_{case:03d}_0000.nii.gz"
        lab_path = ct_root / "labelsTr" / f"phantom_{case:03d}.nii.gz"
        for data, dtype, path in ((vol, np.int16, img_path), (lab, np.uint8, lab_path)):
            nifti = nib.Nifti1Image(data, affine)
            nifti.set_data_dtype(dtype)
            nifti.header.set_xyzt_units("mm", "sec")
            nib.save(nifti, str(path))
        ct["images"].append(str(img_path))
        ct["labels"].append(str(lab_path))
    ct["dataset_json"] = str(ct_root / "dataset.json")
    (ct_root / "dataset.json").write_text(json.dumps({
        "name": "PhantomCT", "description": "Synthetic abdominal CT phantom (samed2d demo)",
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, **{n: v for v, n in CT_CLASSES.items()}},
        "numTraining": 2, "file_ending": ".nii.gz"}, indent=2))

    derm = {"root": str(derm_root), "images": [], "labels": [], "classes": dict(COLOUR_CLASSES)}
    for sub in ("images", "masks"):
        (derm_root / sub).mkdir(parents=True, exist_ok=True)
    for case in range(2):
        rgb, lab, _ = make_colour_phantom((384, 512), seed + case)
        img_path, mask_path = derm_root / "images" / f"derm_{case:03d}.png", derm_root / "masks" / f"derm_{case:03d}.png"
        Image.fromarray(rgb).save(img_path)  # mode RGB
        Image.fromarray(lab).save(mask_path)  # mode L, values 0..n
        derm["images"].append(str(img_path))
        derm["labels"].append(str(mask_path))
    derm["classes_json"] = str(derm_root / "classes.json")
    (derm_root / "classes.json").write_text(json.dumps({str(k): v for k, v in COLOUR_CLASSES.items()}, indent=2))
    return {"PhantomCT": ct, "PhantomDerm": derm}
