"""DICOM (SPEC section 8): a folder holding one series is a volume, read with SimpleITK's
``ImageSeriesReader`` (GDCM sorts the slices by position and applies the rescale); a
single-frame file is a 2D image whose stored values, rescale and photometry are read
with pydicom; a multi-frame file with a position per frame is a volume (as an ITK
format), a cine loop fails.

Only headers are read before the run decodes: the series' files (which finding the
series needs anyway) and a file's tags, never its pixel data.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .base import Format, Header
from .files import InputError, check_file, check_voxels, one_line
from .itk import affine_of, header_of, itk_reason, read_information, read_values, sitk, values_of

# Objects that carry segmentations but are not label maps (SOP class UIDs).
_NOT_LABEL_MAPS = {"1.2.840.10008.5.1.4.1.1.66.4": "DICOM SEG", "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT"}
SLICE_SPACING_TOLERANCE = 0.01   # a series' slice spacing may differ this much from its median


def _not_a_label_map(path, sop_class: str, modality: str) -> Optional[str]:
    kind = _NOT_LABEL_MAPS.get(sop_class) or (modality if modality in ("SEG", "RTSTRUCT") else None)
    if kind:
        return (f"{path}: {'an' if kind[0] in 'AEIOUR' else 'a'} {kind} object, not an image or label map (convert it to a label map first, "
                f"e.g. with dcmqi or rt-utils)")
    return None


def _pydicom():
    import pydicom

    return pydicom


# ---- a folder of one series ------------------------------------------------------


class _SeriesInfo:
    """What ITK's reader information would give for a series, from its files' headers: the
    first slice's origin and direction (its normal third), and the slice spacing as
    ``ImageSeriesReader`` computes it, the distance from the first slice to the last over
    the gaps between them (a tilted gantry's slices are not along the normal)."""

    def __init__(self, first, count: int, slice_spacing: float):
        self.first, self.count, self.slice_spacing = first, count, slice_spacing

    def GetDimension(self):
        return 3

    def GetNumberOfComponents(self):
        return self.first.GetNumberOfComponents()

    def GetPixelID(self):
        return self.first.GetPixelID()

    def GetSize(self):
        size = self.first.GetSize()
        return (size[0], size[1], self.count)

    def GetOrigin(self):
        return self.first.GetOrigin()

    def GetSpacing(self):
        spacing = self.first.GetSpacing()
        return (spacing[0], spacing[1], self.slice_spacing)

    def GetDirection(self):
        return self.first.GetDirection()


def _tag(reader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def _number(text: str, default: float) -> float:
    """A decimal string tag's value ("1" and "1.0" are one slope); unreadable as absent."""
    try:
        return float(text.split("\\")[0]) if text else default
    except ValueError:
        return default


class DicomSeries(Format):
    name = "DICOM series"

    def matches(self, path) -> bool:
        return os.path.isdir(path)

    def case_name(self, path) -> str:
        return os.path.basename(os.path.normpath(os.fspath(path)))

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        folder = os.fspath(path)
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise InputError(f"{path}: cannot list the folder ({exc.strerror or exc})") from None
        files = [n for n in names if os.path.isfile(os.path.join(folder, n))]
        for name in names:  # GDCM would block on a FIFO, or skip it and a slice with it
            entry = os.path.join(folder, name)
            if os.path.exists(entry) and not (os.path.isfile(entry) or os.path.isdir(entry)):
                raise InputError(f"{entry}: not a regular file (a FIFO, socket or device) in a DICOM series folder")
        series_reader = sitk().ImageSeriesReader
        uids = list(series_reader.GetGDCMSeriesIDs(folder))
        if not uids:
            raise InputError(f"{path}: no DICOM series in this folder ({len(files)} files, none readable as DICOM)")
        members = {uid: list(series_reader.GetGDCMSeriesFileNames(folder, uid)) for uid in uids}
        counts = {uid: len(names) for uid, names in members.items()}
        if series is None and len(uids) > 1:
            listed = ", ".join(f"{uid} ({counts[uid]} files)" for uid in uids[:5])
            listed += f" and {len(uids) - 5} more" if len(uids) > 5 else ""
            raise InputError(f"{path}: {len(uids)} DICOM series in one folder: {listed}; name the one to convert "
                             f"(series= in the API, a recipe's series field)")
        uid = series if series is not None else uids[0]
        if uid not in counts:
            raise InputError(f"{path}: no DICOM series {uid} in this folder (it holds {', '.join(uids)})")
        slices = members[uid]
        # the first and last slices give the grid; check_data reads every slice's header
        first = read_information(slices[0], "DICOM file")
        if len(slices) == 1:
            spacing = first.GetSpacing()[2]
        else:
            last = read_information(slices[-1], "DICOM file")
            spacing = float(np.linalg.norm(np.subtract(last.GetOrigin(), first.GetOrigin()))) / (len(slices) - 1)
        header = header_of(path, self, _SeriesInfo(first, len(slices), spacing), max_voxels, native=slices)
        skipped = len(files) - sum(counts.values())
        header.description = f"DICOM series {uid}, {len(slices)} files" + (
            f", {skipped} other files skipped (DICOMDIR or not DICOM)" if skipped else "")
        return header

    def check_data(self, header: Header) -> None:
        """Every slice's header: positions unique and evenly spaced, one rescale, no SEG (the
        run and --dry-run; the memory planner needs only the grid)."""
        path, slices = header.path, header.native
        normal, positions, rescales = None, [], set()
        for name in slices:
            reader = read_information(name, "DICOM file")
            reason = _not_a_label_map(name, _tag(reader, "0008|0016"), _tag(reader, "0008|0060"))
            if reason:
                raise InputError(reason)
            if normal is None:
                normal = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(3, 3)[:, 2]
            positions.append(np.asarray(reader.GetOrigin(), dtype=np.float64))
            rescales.add((_number(_tag(reader, "0028|1053"), 1.0), _number(_tag(reader, "0028|1052"), 0.0)))
        if len(rescales) > 1:
            shown = ", ".join(f"slope {s:g} intercept {i:g}" for s, i in sorted(rescales)[:3])
            raise InputError(f"{path}: the rescale differs between the series' slices ({shown})")
        if len(slices) == 1:
            return
        along = np.array([float(p @ normal) for p in positions])
        gaps = np.diff(along)
        if np.any(np.abs(gaps) < 1e-6):
            k = int(np.argmin(np.abs(gaps)))
            raise InputError(f"{path}: two slices at one position ({slices[k]} and {slices[k + 1]})")
        median = float(np.median(gaps))
        uneven = np.abs(gaps - median) > SLICE_SPACING_TOLERANCE * abs(median)
        if uneven.any():
            k = int(np.argmax(uneven))
            raise InputError(f"{path}: uneven slice spacing: {abs(gaps[k]):.4g} mm between {slices[k]} and "
                             f"{slices[k + 1]}, median {abs(median):.4g} mm (a missing slice?)")

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        reader = sitk().ImageSeriesReader()
        reader.SetFileNames(list(header.native))
        try:
            image = reader.Execute()
        except RuntimeError as exc:
            raise InputError(f"{header.path}: cannot read the series ({itk_reason(exc)})") from None
        # the affine of the image as read, which ITK computes from every slice
        header.affine = affine_of(image.GetOrigin(), image.GetSpacing(), image.GetDirection())
        return values_of(image, header, scaled and not label)

    def release_values(self, header: Header):
        """GDCM applies the rescale: the values as read, in their own type."""
        return self.read(header, label=False, scaled=False), 1.0, 0.0


# ---- one file ---------------------------------------------------------------------


class DicomFile(Format):
    name = "DICOM"
    suffixes = (".dcm", ".dicom", ".ima")

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        check_file(path)
        try:  # a file's tags can be anything: any failure to make sense of them is the file's
            return self._header(path, max_voxels)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: not a readable DICOM file ({one_line(exc)})") from None

    def _header(self, path, max_voxels: int) -> Header:
        # force: older files lack the preamble and file meta, yet are DICOM
        ds = _pydicom().dcmread(os.fspath(path), stop_before_pixels=True, force=True)
        if "SOPClassUID" not in ds and "Rows" not in ds:
            raise InputError(f"{path}: not a readable DICOM file (no SOP class and no image rows)")
        reason = _not_a_label_map(path, str(ds.get("SOPClassUID", "")), str(ds.get("Modality", "")))
        if reason:
            raise InputError(reason)
        if "Rows" not in ds:
            kind = getattr(ds.get("SOPClassUID"), "name", "") or "no SOP class"
            raise InputError(f"{path}: a DICOM file without an image ({kind})")
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if frames > 1:
            return self._multi_frame_header(path, ds, frames, max_voxels)
        if "ModalityLUTSequence" in ds:
            raise InputError(f"{path}: a Modality LUT Sequence is not supported (only a linear rescale)")
        rows, cols, samples = int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1))
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        colour = samples > 1 or photometric == "PALETTE COLOR"
        shape = (rows, cols, 3) if colour else (rows, cols)
        check_voxels(path, shape, max_voxels)
        itemsize = max(1, int(ds.get("BitsAllocated", 16)) // 8)
        return Header(str(path), self, shape, None, itemsize if _rescale(ds)[0] > 0 else 8, 8,
                      f"2D {cols}x{rows} {photometric}", native=None)

    def _multi_frame_header(self, path, ds, frames: int, max_voxels: int) -> Header:
        groups = ds.get("PerFrameFunctionalGroupsSequence")
        positioned = groups is not None and len(groups) == frames and all(
            "PlanePositionSequence" in g for g in groups)
        if not positioned:
            raise InputError(f"{path}: {frames} frames without a position per frame (a cine loop); only "
                             f"single-frame files and enhanced CT/MR volumes are read")
        return header_of(path, self, read_information(path, "DICOM volume"), max_voxels, native="volume")

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        if header.is_volume:
            return read_values(header, label=label, scaled=scaled)
        try:  # pydicom's decoders and lookups raise many kinds for a broken file
            ds = _pydicom().dcmread(header.path, force=True)
            stored = ds.pixel_array  # YBR_FULL(_422) comes back as RGB (pydicom's convert_color_space)
            photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
            if photometric == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                return apply_color_lut(stored, ds)
        except Exception as exc:
            raise InputError(f"{header.path}: cannot decode the pixel data ({one_line(exc)})") from None
        if stored.ndim == 3:
            return stored[..., :3]
        return _grey_values(ds, stored, photometric, label, scaled)


def _rescale(ds) -> tuple:
    """(RescaleSlope, RescaleIntercept) as floats; 1 and 0 where absent or empty."""
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return (1.0 if slope is None or slope == "" else float(slope),
            0.0 if intercept is None or intercept == "" else float(intercept))


def _grey_values(ds, x: np.ndarray, photometric: str, label: bool, scaled: bool) -> np.ndarray:
    """SPEC section 8: the stored integers when the slope is positive (the integer path),
    else y = x * slope + intercept in float64; inverted when exactly one of MONOCHROME1 and
    an INVERSE presentation LUT holds, so dense structures are bright."""
    slope, intercept = _rescale(ds)
    if label:  # labels are read with their scaling applied
        return x if (slope, intercept) == (1.0, 0.0) else x.astype(np.float64) * slope + intercept
    invert = (photometric == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")) == "INVERSE")
    if x.dtype.kind in "iu" and slope > 0 and not scaled:
        if not invert:
            return x
        x = x.astype(np.int64)
        return (x.min() + x.max()) - x if x.size else x
    y = x.astype(np.float64) * slope + intercept
    if invert:
        finite = y[np.isfinite(y)]
        if finite.size:
            y = (finite.min() + finite.max()) - y
    return y
