"""Making the same arrays in every container of SPEC section 8, and reading them back the
way SPEC section 8 says, for tests/test_formats.py.

Writers: ``write_itk`` (MetaImage .mha/.mhd, NRRD .nrrd/.nhdr, from a NIfTI-style stored
array and affine), ``write_dicom_series`` (a folder of int16 slices with SimpleITK, the
per-slice tags of SimpleITK's "Dicom Series Read Modify Write" example), ``write_dicom_2d``
(one DICOM file with pydicom), ``write_analyze``. Readers of SPEC section 8 used to check
the writers (``read_itk_spec``, ``read_dicom_series_spec``) and the numpy reference of the
values of a single DICOM file (``dicom_2d_reference``). Never imports ``samed2d_fast``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Optional, Sequence

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from reference_pipeline import normalize_volume

# ITK's LPS <-> NIfTI's RAS (SPEC section 8)
F = np.diag([-1.0, -1.0, 1.0])


# ---- NIfTI side ------------------------------------------------------------------------


def nifti_stored(path):
    """(stored array, affine) of a NIfTI file: what SPEC 8 puts into an ITK file equal to it.
    Only for files without scaling (the ITK formats have none)."""
    img = nib.load(str(path))
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    assert (slope, inter) == (1.0, 0.0), f"{path}: scaled NIfTI ({slope}, {inter}) has no ITK twin"
    data = np.asarray(img.dataobj.get_unscaled())
    return data, np.array(img.affine, dtype=np.float64)


def canonical(arr: np.ndarray, affine: np.ndarray):
    """nibabel.as_closest_canonical on an array and its affine (SPEC section 1)."""
    ornt = io_orientation(affine)
    return np.ascontiguousarray(apply_orientation(arr, ornt)), affine @ inv_ornt_aff(ornt, arr.shape[:3])


def itk_geometry(affine: np.ndarray):
    """(spacing, direction 3x3, origin) of the ITK image equal to a NIfTI affine:
    s = column norms of A[:3, :3]; D = F A[:3, :3] / s; o = F A[:3, 3]."""
    a = np.asarray(affine, dtype=np.float64)
    s = np.linalg.norm(a[:3, :3], axis=0)
    d = F @ a[:3, :3] / s
    o = F @ a[:3, 3]
    return s, d, o


def spec_affine(spacing, direction, origin) -> np.ndarray:
    """SPEC 8: [[F D diag(s), F o], [0 0 0 1]] in float64."""
    out = np.eye(4)
    out[:3, :3] = F @ np.asarray(direction, dtype=np.float64).reshape(3, 3) @ np.diag(np.asarray(spacing, float))
    out[:3, 3] = F @ np.asarray(origin, dtype=np.float64)
    return out


# ---- ITK files ---------------------------------------------------------------------------


def itk_image(arr: np.ndarray, affine: np.ndarray, *, channels: str = "vector"):
    """A SimpleITK image equal to the NIfTI (arr, affine): a 3D array (X, Y, Z) becomes a
    scalar 3D image; a 4D one (X, Y, Z, C) a vector image (``channels="vector"``) or a 4D
    image whose 4th axis holds the channels (``channels="axis"``)."""
    import SimpleITK as sitk

    s, d, o = itk_geometry(affine)
    if arr.ndim == 3:
        img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    elif arr.ndim == 4 and channels == "vector":
        img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0, 3)), isVector=True)
    elif arr.ndim == 4 and channels == "axis":
        parts = []
        for c in range(arr.shape[3]):
            part = sitk.GetImageFromArray(np.ascontiguousarray(arr[..., c].transpose(2, 1, 0)))
            part.SetSpacing(tuple(float(v) for v in s))
            part.SetDirection(tuple(float(v) for v in d.ravel()))
            part.SetOrigin(tuple(float(v) for v in o))
            parts.append(part)
        img = sitk.JoinSeries(parts)  # spacing 1, origin 0 along the 4th axis
        d4 = np.eye(4)
        d4[:3, :3] = d
        img.SetSpacing(tuple(float(v) for v in s) + (1.0,))
        img.SetDirection(tuple(float(v) for v in d4.ravel()))
        img.SetOrigin(tuple(float(v) for v in o) + (0.0,))
        return img
    else:
        raise ValueError(f"itk_image: shape {arr.shape}")
    img.SetSpacing(tuple(float(v) for v in s))
    img.SetDirection(tuple(float(v) for v in d.ravel()))
    img.SetOrigin(tuple(float(v) for v in o))
    return img


def write_itk(path: Path, arr: np.ndarray, affine: np.ndarray, *, compress: bool = False,
              channels: str = "vector") -> Path:
    """Writes (arr, affine) as an ITK file (.mha, .mhd + .raw/.zraw, .nrrd, .nhdr + .raw[.gz])."""
    import SimpleITK as sitk

    sitk.WriteImage(itk_image(arr, affine, channels=channels), str(path), useCompression=compress)
    return Path(path)


def nifti_to_itk(nifti_path, path: Path, **kwargs) -> Path:
    arr, affine = nifti_stored(nifti_path)
    return write_itk(path, arr, affine, **kwargs)


def write_itk_2d(path: Path, arr: np.ndarray, *, spacing=(0.5, 2.0), direction=(-1.0, 0.0, 0.0, 1.0),
                 origin=(4.0, -7.0)) -> Path:
    """A 2D ITK image of the rows x columns array ``arr`` ((H, W) grey, (H, W, C) vector),
    with a spacing, direction and origin that must not change anything (SPEC 8: no
    reorientation of 2D images)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(arr), isVector=arr.ndim == 3)
    img.SetSpacing(spacing)
    img.SetDirection(direction)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))
    return Path(path)


def read_itk_spec(path):
    """SPEC 8's reading of an ITK file: (stored array with the spatial axes reversed, channels
    last; float64 affine), or for a 2D image (the rows x columns array, None)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    return itk_image_spec(img)


def itk_image_spec(img):
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(img)
    dim = img.GetDimension()
    if dim == 2:
        return arr, None
    vector = img.GetNumberOfComponentsPerPixel() > 1
    if dim == 3:
        arr = arr.transpose(2, 1, 0, 3) if vector else arr.transpose(2, 1, 0)
    elif dim == 4 and not vector:
        arr = arr.transpose(3, 2, 1, 0)  # (C, Z, Y, X) -> (X, Y, Z, C)
    else:
        raise ValueError(f"unsupported ITK image: dimension {dim}, vector {vector}")
    spacing = img.GetSpacing()[:3]
    direction = np.array(img.GetDirection(), dtype=np.float64).reshape(dim, dim)[:3, :3]
    origin = img.GetOrigin()[:3]
    return arr, spec_affine(spacing, direction, origin)


# ---- DICOM series --------------------------------------------------------------------------


def write_dicom_series(folder: Path, arr: np.ndarray, affine: np.ndarray, *, series_uid: str,
                       study_uid: str = "1.2.826.0.1.3680043.8.498.1", modality: str = "CT",
                       prefix: str = "IM", series_number: int = 1):
    """Writes the int16 volume (arr, affine) as one DICOM file per slice along the third
    stored axis, as SimpleITK's "Dicom Series Read Modify Write" example does (the slice
    image written by ImageFileWriter with per-slice ImagePositionPatient,
    ImageOrientationPatient, SliceThickness, instance and series tags). Returns the files in
    slice order. Values must be exact in int16."""
    import SimpleITK as sitk

    assert arr.ndim == 3
    if arr.dtype != np.int16:
        assert np.array_equal(arr.astype(np.int16), arr), "values not exact in int16"
        arr = arr.astype(np.int16)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    img = itk_image(arr, affine)
    d = img.GetDirection()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # the UIDs set below are written as given
    files = []
    for k in range(img.GetDepth()):
        s = img[:, :, k]
        tags = {
            "0008|0060": modality,
            "0008|0016": "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4",
            "0008|0018": f"{series_uid}.{k + 1}",              # SOPInstanceUID
            "0020|000d": study_uid,                             # StudyInstanceUID
            "0020|000e": series_uid,                            # SeriesInstanceUID
            "0020|0011": str(series_number),                    # SeriesNumber
            "0020|0013": str(k + 1),                            # InstanceNumber
            "0020|0032": "\\".join(f"{v:.10g}" for v in img.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0037": "\\".join(f"{v:.10g}" for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
            "0018|0050": f"{img.GetSpacing()[2]:.10g}",        # SliceThickness
            "0028|0030": "\\".join(f"{v:.10g}" for v in (img.GetSpacing()[1], img.GetSpacing()[0])),
        }
        for key, value in tags.items():
            s.SetMetaData(key, value)
        path = folder / f"{prefix}{k:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(s)
        files.append(path)
    return files


def edit_dicom(path: Path, **attributes) -> None:
    """Sets DICOM attributes of a file in place (with pydicom)."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.save_as(str(path))


def read_dicom_series_spec(folder, series_uid: Optional[str] = None):
    """SPEC 8: ImageSeriesReader over GetGDCMSeriesFileNames(folder, uid), then as an ITK
    image: (stored array (X, Y, Z), float64 affine, pixel type string)."""
    import SimpleITK as sitk

    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid or "")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    img = reader.Execute()
    arr, affine = itk_image_spec(img)
    return arr, affine, img.GetPixelIDTypeAsString()


# ---- Analyze -------------------------------------------------------------------------------


def write_analyze(path: Path, data: np.ndarray, affine: np.ndarray, *, spm2: bool = False,
                  slope: Optional[float] = None) -> Path:
    """An Analyze pair (``path`` ending .hdr or .img) written by nibabel; ``slope`` (SPM2 only)
    is written into the header's scale field as given."""
    cls = nib.Spm2AnalyzeImage if spm2 else nib.AnalyzeImage
    img = cls(data, affine)
    img.set_data_dtype(data.dtype)
    if slope is not None:
        assert spm2, "plain Analyze has no scale factor"
        img.header["scl_slope"] = slope
    nib.save(img, str(path))
    return Path(path)


# ---- one DICOM file -------------------------------------------------------------------------

SOP_CLASSES = {
    "CR": "1.2.840.10008.5.1.4.1.1.1",    # Computed Radiography Image Storage
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "OT": "1.2.840.10008.5.1.4.1.1.7",    # Secondary Capture Image Storage
}


def write_dicom_2d(path: Path, arr: np.ndarray, *, photometric: str = "MONOCHROME2", bits_stored=None,
                   slope=None, intercept=None, presentation_lut=None, modality: str = "DX",
                   extra: Optional[Dict] = None) -> Path:
    """One DICOM file from ``arr`` with pydicom: (H, W) grey, (H, W, 3) RGB, or (N, H, W) a
    multi-frame grey file without per-frame positions (a cine loop). RescaleSlope /
    RescaleIntercept / PresentationLUTShape only when given; ``extra``: more attributes."""
    from pydicom.dataset import FileMetaDataset, Dataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop = SOP_CLASSES.get(modality, SOP_CLASSES["OT"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = "Test^Formats"
    ds.PatientID = "0"
    if bits_stored is None:
        bits_stored = 8 * arr.dtype.itemsize
    ds.set_pixel_data(np.ascontiguousarray(arr), photometric, bits_stored, generate_instance_uid=False)
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    if presentation_lut is not None:
        ds.PresentationLUTShape = presentation_lut
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)


def dicom_2d_values(path):
    """SPEC 8's values of a single-frame DICOM file before normalisation: int64 stored
    integers (integer path) or float64 y = x * slope + intercept (float path), inverted when
    exactly one of MONOCHROME1 and PresentationLUTShape INVERSE holds; colour files as RGB
    (pydicom's conversion of YBR, its palette lookup)."""
    import pydicom
    from pydicom.pixels import apply_color_lut, convert_color_space

    ds = pydicom.dcmread(str(path))
    pi = str(ds.PhotometricInterpretation).strip()
    raw = ds.pixel_array  # stored values (pydicom 3 converts YBR to RGB here; see below)
    if pi == "PALETTE COLOR":
        return apply_color_lut(raw, ds)
    if pi == "RGB":
        return raw
    if pi in ("YBR_FULL", "YBR_FULL_422"):
        from pydicom.pixels import pixel_array

        ybr = pixel_array(str(path), as_rgb=False)  # decoded, still YBR (422 upsampled)
        return convert_color_space(ybr, "YBR_FULL", "RGB")
    assert pi in ("MONOCHROME1", "MONOCHROME2"), pi
    assert "ModalityLUTSequence" not in ds
    slope = float(ds.RescaleSlope) if "RescaleSlope" in ds and ds.RescaleSlope is not None else 1.0
    intercept = float(ds.RescaleIntercept) if "RescaleIntercept" in ds and ds.RescaleIntercept is not None else 0.0
    invert = (pi == "MONOCHROME1") != (str(ds.get("PresentationLUTShape", "")).strip() == "INVERSE")
    if raw.dtype.kind in "iu" and slope > 0:
        x = raw.astype(np.int64)
        if invert:
            x = int(x.min()) + int(x.max()) - x
        return x
    y = raw.astype(np.float64) * slope + intercept
    if invert:
        finite = np.isfinite(y)
        lo, hi = float(y[finite].min()), float(y[finite].max())
        y = np.where(finite, (lo + hi) - y, y)
    return y


def dicom_2d_reference(path) -> np.ndarray:
    """The 8-bit image SPEC sections 8 and 2 give for a single-frame DICOM file."""
    v = dicom_2d_values(path)
    if v.dtype == np.int64 and v.size and -(2**31) <= v.min() and v.max() < 2**31:
        v = v.astype(np.int32)  # normalize_volume's fast exact integer path
    return normalize_volume(v)


# ---- trees -------------------------------------------------------------------------------


def digest_tree(root: Path) -> Dict[str, str]:
    """Every file under root (relative path -> SHA-256), folders included (-> "")."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def blob_labels_2d(shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A 2D label map with values 1..3 and a box of label 1 big enough to pass the small-mask
    filter (so the image is written)."""
    h, w = shape
    lab = np.zeros((h, w), np.uint8)
    lab[h // 6: h // 2, w // 6: w // 2] = 1
    for _ in range(6):
        v = int(rng.integers(1, 4))
        r0, c0 = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
        lab[r0: r0 + int(rng.integers(3, max(4, h // 3))), c0: c0 + int(rng.integers(3, max(4, w // 3)))] = v
    return lab


def pydicom_test_file(name: str) -> str:
    """A real DICOM file that ships inside pydicom (never one pydicom would download)."""
    import pydicom

    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    assert path.is_file(), f"{name} is not among the files pydicom ships"
    return str(path)


def write_enhanced_ct(path: Path, arr_zyx: np.ndarray, *, spacing=(0.8, 0.7, 2.5), origin=(10.0, 20.0, 30.0)):
    """An enhanced CT file (one file, a frame per slice) with a position per frame, written
    with pydicom: the int16 volume (frames, rows, columns), axis-aligned in LPS. Returns the
    path and its SPEC 8 affine."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    nz, ny, nx = arr_zyx.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "CT", generate_uid(), generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = ny, nx, nz
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    orientation, measures, shared = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [spacing[1], spacing[0]]  # rows, then columns
    measures.SliceThickness = spacing[2]
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for k in range(nz):
        position, frame = Dataset(), Dataset()
        position.ImagePositionPatient = [origin[0], origin[1], origin[2] + spacing[2] * k]
        frame.PlanePositionSequence = DicomSequence([position])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    ds.PixelData = np.ascontiguousarray(arr_zyx, dtype="<i2").tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path), spec_affine(spacing, np.eye(3).ravel(), origin)
