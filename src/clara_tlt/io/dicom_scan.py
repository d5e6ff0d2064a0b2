"""Find DICOM files under a folder, read their headers, and group image slices into series.

A series is every image slice sharing a SeriesInstanceUID, wherever it lies under the folder (one series may
span subfolders; one folder may hold several series). Non-image objects (DICOMDIR, SR, RT structures,
segmentations, presentation states) and localizers are skipped with a note; a file that claims to be DICOM but
cannot be read is reported as a failure of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

NON_IMAGE_MODALITIES = {
    "SR",
    "RTSTRUCT",
    "RTPLAN",
    "RTDOSE",
    "RTRECORD",
    "PR",
    "KO",
    "SEG",
    "DOC",
    "REG",
    "ECG",
}
# Series metadata carried into sidecars: acquisition facts only, never patient or operator identifiers, and no
# UIDs (de-identification profiles replace them; they can link a volume back to its patient).
PUBLIC_TAGS = (
    "Modality", "SeriesDescription", "SeriesNumber", "Manufacturer", "ManufacturerModelName", "BodyPartExamined", "SliceThickness",
    "SpacingBetweenSlices",
    "KVP", "ConvolutionKernel", "MagneticFieldStrength", "RepetitionTime", "EchoTime", "FlipAngle",
    "ProtocolName", "ImageType", "PatientPosition", "GantryDetectorTilt",
)  # fmt: skip


@dataclass(frozen=True)
class SliceInfo:
    """One image plane: a single-frame file (`frame` None) or one frame of a multi-frame object."""

    path: str
    frame: int | None
    rows: int
    columns: int
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    pixel_spacing: tuple[float, float]  # (between rows = y, between columns = x), as DICOM orders it
    slope: float
    intercept: float
    native: NativeLayout | None = None  # where uncompressed pixels sit in the file (fast path), if they do


@dataclass(frozen=True)
class NativeLayout:
    """Uncompressed little-endian pixels: `offset` bytes into the file, numpy `dtype`, `bits_stored` used."""

    offset: int
    dtype: str
    bits_stored: int


@dataclass
class DicomSeries:
    """Slices of one SeriesInstanceUID, plus what was left out of it and why."""

    uid: str
    slices: list[SliceInfo] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def folders(self) -> list[Path]:
        return sorted({Path(s.path).parent for s in self.slices})


@dataclass
class ScanResult:
    series: list[DicomSeries]
    unreadable: dict[str, str]  # path → reason
    skipped: list[str]  # one note per skipped object


def looks_like_dicom(path: Path) -> bool:
    """A `.dcm` name, or the `DICM` magic at byte 128 (many scanners write files without a suffix)."""
    if path.name.lower().endswith(".dcm"):
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def find_dicom_files(folder: Path, *, exclude: Path | None = None) -> list[Path]:
    """Every file under `folder` that looks like DICOM, sorted; `exclude` (e.g. the output folder) is not walked."""
    found: list[Path] = []
    excluded = exclude.resolve() if exclude else None
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(root, d).resolve() != excluded))
        found += [Path(root, name) for name in sorted(files) if not name.startswith(".")]
    return [path for path in found if looks_like_dicom(path)]


def _floats(value: Any, count: int, what: str) -> tuple[float, ...]:
    if value is None or len(value) != count:
        raise ValueError(f"missing or malformed {what}")
    return tuple(float(v) for v in value)


def _first(sequence_owner: Dataset | None, keyword: str) -> Dataset | None:
    sequence = sequence_owner.get(keyword) if sequence_owner is not None else None
    return sequence[0] if sequence else None


def _frame_slices(path: str, ds: Dataset) -> list[SliceInfo]:
    """Slices of an enhanced multi-frame object: geometry from the shared and per-frame functional groups."""
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    frames = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(frames) != int(ds.get("NumberOfFrames", 1)):
        raise ValueError("multi-frame object without per-frame plane positions")
    slices = []
    for index, group in enumerate(frames):

        def pick(keyword: str, group: Dataset = group) -> Dataset | None:
            return _first(group, keyword) or _first(shared, keyword)

        position, orientation, measures = (pick(k) for k in ("PlanePositionSequence", "PlaneOrientationSequence", "PixelMeasuresSequence"))  # fmt: skip
        transform = pick("PixelValueTransformationSequence")
        slices.append(
            SliceInfo(
                path, index, int(ds.Rows), int(ds.Columns),
                _floats(position and position.get("ImagePositionPatient"), 3, "ImagePositionPatient"),  # type: ignore[arg-type]
                _floats(orientation and orientation.get("ImageOrientationPatient"), 6, "ImageOrientationPatient"),  # type: ignore[arg-type]
                _floats(measures and measures.get("PixelSpacing"), 2, "PixelSpacing"),  # type: ignore[arg-type]
                float(transform.get("RescaleSlope", 1) if transform else 1),
                float(transform.get("RescaleIntercept", 0) if transform else 0),
            )
        )  # fmt: skip
    return slices


def slices_of(path: str, ds: Dataset) -> list[SliceInfo]:
    """The image planes a dataset holds; raises ValueError when it lacks the geometry to place them."""
    if "PerFrameFunctionalGroupsSequence" in ds or int(ds.get("NumberOfFrames", 1) or 1) > 1:
        return _frame_slices(path, ds)
    return [
        SliceInfo(
            path, None, int(ds.Rows), int(ds.Columns),
            _floats(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient"),  # type: ignore[arg-type]
            _floats(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient"),  # type: ignore[arg-type]
            _floats(ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing"), 2, "PixelSpacing"),  # type: ignore[arg-type]
            float(ds.get("RescaleSlope", 1) or 1),
            float(ds.get("RescaleIntercept", 0) or 0),
            native_layout(ds),
        )
    ]  # fmt: skip


def native_layout(ds: Dataset) -> NativeLayout | None:
    """Where a single-frame, uncompressed, little-endian image keeps its pixels; None for anything else."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if (
        syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        or int(ds.get("SamplesPerPixel", 1)) != 1
    ):
        return None
    element = ds.get_item("PixelData", keep_deferred=True)
    allocated = int(ds.get("BitsAllocated", 0))
    if not isinstance(element, RawDataElement) or element.value is not None or allocated not in (8, 16, 32):
        return None
    size = allocated // 8
    if element.length != int(ds.Rows) * int(ds.Columns) * size:
        return None
    kind = "i" if int(ds.get("PixelRepresentation", 0)) else "u"
    return NativeLayout(element.value_tell, f"<{kind}{size}", int(ds.get("BitsStored", allocated)))


def public_meta(ds: Dataset) -> dict[str, Any]:
    """Series facts safe for a sidecar (see PUBLIC_TAGS): no names, IDs, birth dates or institutions."""
    meta: dict[str, Any] = {}
    for keyword in PUBLIC_TAGS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        if isinstance(value, pydicom.multival.MultiValue):
            value = [str(v) for v in value]
        elif isinstance(value, pydicom.valuerep.IS):
            value = int(value)
        elif isinstance(value, pydicom.valuerep.DSfloat):
            value = float(value)
        meta[keyword] = value if isinstance(value, (int, float, list)) else str(value)
    return meta


def skip_reason(ds: Dataset) -> str | None:
    """Why a readable dataset is not part of any image volume, or None when it is an image slice."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return "no pixel data (not an image)"
    if str(ds.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return f"non-image object (Modality {ds.Modality})"
    if "LOCALIZER" in [str(v).upper() for v in ds.get("ImageType", [])]:
        return "localizer (ImageType LOCALIZER)"
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return "colour image (SamplesPerPixel > 1): not a scalar volume"
    return None


def scan_dicom_folder(folder: Path, *, exclude: Path | None = None) -> ScanResult:
    """Read the headers of every DICOM file under `folder` and group image slices into series."""
    by_uid: dict[str, DicomSeries] = {}
    unreadable: dict[str, str] = {}
    notes_by_uid: dict[str, list[str]] = {}
    for path in find_dicom_files(folder, exclude=exclude):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size="1 KB")
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            unreadable[str(path)] = (
                f"not a readable DICOM file ({type(exc).__name__}: {exc}); re-export it or move it out of the input folder"
            )
            continue
        reason = skip_reason(ds)
        if reason:
            notes_by_uid.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(
                f"{path.name}: skipped, {reason}"
            )
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or f"no-series-uid:{path.parent}")
        try:
            planes = slices_of(str(path), ds)
        except ValueError as exc:
            unreadable[str(path)] = f"cannot place this image in space: {exc}"
            continue
        series = by_uid.setdefault(uid, DicomSeries(uid, meta=public_meta(ds)))
        series.slices += planes
    skipped: list[str] = []
    for uid, notes in notes_by_uid.items():
        if uid in by_uid:  # a localizer or key object saved inside an image series
            by_uid[uid].notes += notes
        else:
            skipped += notes
    return ScanResult(list(by_uid.values()), unreadable, skipped)
