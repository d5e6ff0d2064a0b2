"""Read the headers of the DICOM files under a folder and group image slices into series.

A series is every image slice sharing a SeriesInstanceUID, wherever it lies under the folder (one series may
span subfolders; one folder may hold several series). Objects known not to be slices (dicom_files.py) are
skipped with a note. A file that cannot be read whole — not parseable, cut short
before or inside its pixel data, or without the geometry to place it — is damaged: it fails its series (by
SeriesInstanceUID, or every series of its folder when even that cannot be read), so no volume is built with a
hole where a slice should be; a damaged file that belongs to no series found is a failure of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from clara_tlt.io.dicom_files import find_dicom_files, has_pixels, skip_reason, sop_class

# Series metadata carried into sidecars: acquisition facts only, never patient or operator identifiers, and no
# UIDs (de-identification profiles replace them; they can link a volume back to its patient).
UNDEFINED_LENGTH = 0xFFFFFFFF  # encapsulated pixel data: frames end with a delimiter, not a length
PUBLIC_TAGS = (
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "SliceThickness",
    "SpacingBetweenSlices",
    "KVP",
    "ConvolutionKernel",
    "MagneticFieldStrength",
    "RepetitionTime",
    "EchoTime",
    "FlipAngle",
    "ProtocolName",
    "ImageType",
    "PatientPosition",
    "GantryDetectorTilt",
)


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
    """Slices of one SeriesInstanceUID, what was left out of it and why, and its damaged files (path → reason):
    a series with damaged files cannot be read (`read_series` raises)."""

    uid: str
    slices: list[SliceInfo] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def folders(self) -> list[Path]:
        return sorted({Path(s.path).parent for s in self.slices})


@dataclass
class ScanResult:
    series: list[DicomSeries]
    unreadable: dict[str, str]  # path → reason, for damaged files that belong to no series found
    skipped: list[str]  # one note per skipped object


def _floats(owner: Dataset | None, keyword: str, count: int) -> tuple[float, ...]:
    """`count` numbers of `owner`'s element `keyword`; ValueError naming it when absent or malformed."""
    value = owner.get(keyword) if owner is not None else None
    if value is None or len(value) != count:
        raise ValueError(f"missing or malformed {keyword}")
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

        transform = pick("PixelValueTransformationSequence")
        slices.append(
            SliceInfo(
                path=path,
                frame=index,
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                position=_floats(pick("PlanePositionSequence"), "ImagePositionPatient", 3),  # type: ignore[arg-type]
                orientation=_floats(pick("PlaneOrientationSequence"), "ImageOrientationPatient", 6),  # type: ignore[arg-type]
                pixel_spacing=_floats(pick("PixelMeasuresSequence"), "PixelSpacing", 2),  # type: ignore[arg-type]
                slope=float(transform.get("RescaleSlope", 1) if transform else 1),
                intercept=float(transform.get("RescaleIntercept", 0) if transform else 0),
            )
        )
    return slices


def slices_of(path: str, ds: Dataset) -> list[SliceInfo]:
    """The image planes a dataset holds; raises ValueError when it lacks the geometry to place them."""
    if "PerFrameFunctionalGroupsSequence" in ds or int(ds.get("NumberOfFrames", 1) or 1) > 1:
        return _frame_slices(path, ds)
    spacing = "PixelSpacing" if "PixelSpacing" in ds else "ImagerPixelSpacing"
    return [
        SliceInfo(
            path=path,
            frame=None,
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            position=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
            orientation=_floats(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
            pixel_spacing=_floats(ds, spacing, 2),  # type: ignore[arg-type]
            slope=float(ds.get("RescaleSlope", 1) or 1),
            intercept=float(ds.get("RescaleIntercept", 0) or 0),
            native=native_layout(ds),
        )
    ]


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


def image_slices(path: str, ds: Dataset) -> list[SliceInfo]:
    """The planes of an image dataset; ValueError says why it is damaged (no pixel data, no geometry)."""
    if not has_pixels(ds):
        raise ValueError("its pixel data is missing (file cut short?)")
    short = _short_pixel_data(path, ds)
    if short:
        raise ValueError(short)
    try:
        return slices_of(path, ds)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot place this image in space: {exc}") from exc


def _short_pixel_data(path: str, ds: Dataset) -> str | None:
    """Why pixel data of a defined length is cut short (fewer bytes in the file than its length says), from the
    header read alone; None when they are all there or the length is undefined (encapsulated frames)."""
    element = ds.get_item("PixelData", keep_deferred=True)
    if not isinstance(element, RawDataElement) or element.length == UNDEFINED_LENGTH:
        return None
    if element.value is not None:
        present = len(element.value)
    else:  # deferred: the bytes lie in the file from value_tell on
        present = max(Path(path).stat().st_size - element.value_tell, 0)
    if present >= element.length:
        return None
    return (
        f"cannot decode pixel data (file truncated: {present} of its {element.length} pixel bytes); "
        "re-copy or re-export it"
    )


def unreadable_reason(path: Path, exc: Exception) -> str:
    """Why pydicom could not parse `path`, in words for the user (no pydicom `force=True` advice)."""
    size = path.stat().st_size if path.exists() else None
    if size == 0:
        return "not a readable DICOM file (empty: 0 bytes)"
    if size is not None and size < 132:
        return f"not a readable DICOM file ({size} bytes: cut short before the DICOM header)"
    detail = str(exc).replace(" Use force=True to force reading.", "")
    return f"not a readable DICOM file ({type(exc).__name__}: {detail})"


@dataclass
class _Damaged:
    path: Path
    uid: str | None
    reason: str
    unplaceable_class: UID | None = None  # SOP Class of a whole image that lacks patient geometry


def scan_dicom_folder(folder: Path, *, exclude: Path | None = None) -> ScanResult:
    """Read the headers of every DICOM file under `folder` and group image slices into series.

    Damaged files go to their series' `damaged` (see the module docstring), or to `unreadable` when no series
    found can own them.
    """
    by_uid: dict[str, DicomSeries] = {}
    classes_by_uid: dict[str, set[UID | None]] = {}
    damaged: list[_Damaged] = []
    notes_by_uid: dict[str, list[str]] = {}
    for path in find_dicom_files(folder, exclude=exclude):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size="1 KB")
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            damaged.append(_Damaged(path, None, unreadable_reason(path, exc)))
            continue
        reason = skip_reason(ds)
        if reason:
            notes_by_uid.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(
                f"{path.name}: skipped, {reason}"
            )
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "") or None
        try:
            planes = image_slices(str(path), ds)
        except ValueError as exc:
            damaged.append(_Damaged(path, uid, str(exc), sop_class(ds) if has_pixels(ds) else None))
            continue
        key = uid or f"no-series-uid:{path.parent}"
        series = by_uid.setdefault(key, DicomSeries(key, meta=public_meta(ds)))
        series.slices += planes
        classes_by_uid.setdefault(key, set()).add(sop_class(ds))
    skipped: list[str] = []
    for uid, notes in notes_by_uid.items():
        if uid in by_uid:  # a localizer or key object saved inside an image series
            by_uid[uid].notes += notes
        else:
            skipped += notes
    unowned = _assign_damaged(damaged, by_uid, classes_by_uid)
    return ScanResult(list(by_uid.values()), unowned, skipped)


def _assign_damaged(
    damaged: list[_Damaged], by_uid: dict[str, DicomSeries], classes_by_uid: dict[str, set[UID | None]]
) -> dict[str, str]:
    """Give each damaged file to its series, or (series unknown) to every series of its folder; the rest,
    which no series found can own, are returned as path → reason. A whole image without geometry of another
    SOP Class than its series' slices (a secondary capture saved into a CT series) is skipped with a note."""
    unowned: dict[str, str] = {}
    for item in damaged:
        if item.uid is not None:
            owners = [by_uid[item.uid]] if item.uid in by_uid else []
        else:
            owners = [s for s in by_uid.values() if item.path.parent in s.folders]
        other_class = item.unplaceable_class
        if item.uid in by_uid and other_class is not None and other_class not in classes_by_uid[item.uid]:
            owners[0].notes.append(f"{item.path.name}: skipped, {other_class.name} without patient geometry")
            continue
        for series in owners:
            series.damaged[str(item.path)] = item.reason + (
                "" if item.uid else " (its SeriesInstanceUID cannot be read; it lies in this series' folder)"
            )
        if not owners:
            unowned[str(item.path)] = f"{item.reason}; re-export it or move it out of the input folder"
    return unowned
