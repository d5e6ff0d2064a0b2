"""DICOM Segmentation objects (SEG) and the series they belong to, through highdicom.

Reading: `read_seg(path, reference)` gives a label `Volume` on the grid the referenced image series is read
on (`read_series`): value k for the k-th segment in segment-number order (segments 1, 2, 5 → values 1, 2, 3),
0 elsewhere. Without the referenced series the label keeps the SEG's own geometry (the extent of its frames),
with a note. Segments that overlap cannot become one label volume without losing a label: refused, naming the
file. Writing (clara_tlt.writers.dicom_seg) needs the source series' grid (`series_grid`), its datasets
(`source_datasets`) and the conversion of a `Volume` to highdicom's (`highdicom_volume`).

>>> label = read_seg(Path("seg.dcm"), reference=the_series(Path("ct")))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import SegmentationStorage

from clara_tlt.errors import ImageReadError
from clara_tlt.io.dicom_files import find_dicom_files, sop_class
from clara_tlt.io.dicom_scan import DicomSeries
from clara_tlt.io.dicom_series import series_stack, single_slice_thickness
from clara_tlt.io.regularize import regular_grid
from clara_tlt.io.volume import Volume

if TYPE_CHECKING:
    import highdicom as hd

REQUIRED_SOURCE_KEYWORDS = ("StudyInstanceUID", "FrameOfReferenceUID")  # a SEG joins this study and space
# Patient and study attributes of Type 2 that highdicom copies from the source: present, possibly empty.
TYPE2_SOURCE_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


@dataclass(frozen=True)
class SegFile:
    """A DICOM SEG file and the SeriesInstanceUID it references ('' when it names none)."""

    path: Path
    series_uid: str


@dataclass(frozen=True)
class SegSource:
    """A SEG to convert and the image series it references (None when absent): what dataconvert `-l` reads."""

    path: Path
    reference: DicomSeries | None

    def read(self, *, interpolate_missing_slices: bool = False) -> Volume:
        return read_seg(self.path, self.reference, interpolate_missing_slices=interpolate_missing_slices)


def is_seg(ds: Dataset) -> bool:
    """A Segmentation Storage object (by its SOP Class)."""
    return sop_class(ds) == SegmentationStorage


def find_segs(folder: Path, *, exclude: Path | None = None) -> list[SegFile]:
    """Every DICOM SEG under `folder` (headers only), with the series it references; sorted by path."""
    found = []
    for path in find_dicom_files(folder, exclude=exclude):
        try:
            ds = pydicom.dcmread(path, specific_tags=["SOPClassUID", "ReferencedSeriesSequence"])
        except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError):
            continue  # the image scan reports files it cannot read
        if is_seg(ds):
            referenced = ds.get("ReferencedSeriesSequence") or [Dataset()]
            found.append(SegFile(path, str(referenced[0].get("SeriesInstanceUID", ""))))
    return found


def series_grid(series: DicomSeries, *, interpolate_missing_slices: bool = False) -> Volume:
    """An empty uint8 volume on the grid `read_series` reads `series` on, from its headers alone (a tilted or
    unevenly spaced stack: the regular grid it is resampled onto). A series missing whole slices raises as
    `read_series` does unless `interpolate_missing_slices`: no grid is made up over the gap unasked."""
    geometry, _ = series_stack(series, interpolate_missing_slices=interpolate_missing_slices)
    rows, columns = geometry.slices[0].rows, geometry.slices[0].columns
    if geometry.regular:
        count, origin = len(geometry.slices), geometry.origin
        gap = geometry.slice_spacing if count > 1 else single_slice_thickness(series)
    else:
        origin, gap, count = regular_grid(geometry)
    return Volume(
        np.zeros((count, rows, columns), np.uint8),
        (*geometry.pixel_spacing, gap),
        tuple(origin),
        geometry.direction,
    )


def source_datasets(series: DicomSeries) -> list[Dataset]:
    """The headers of the series' files in stacking order (each file once), Type 2 patient and study
    attributes a file lacks added empty (highdicom copies them; nothing is made up). A series missing whole
    slices is refused: a SEG's frames are the series' own slices, and none is made up for the gap."""
    geometry, _ = series_stack(series, interpolate_missing_slices=True)
    missing = geometry.describe_missing()
    if missing:
        raise ImageReadError(
            f"{series.folders[0]}: {missing}; a DICOM SEG's frames are the series' own slices and none is made "
            "up for the gap, so no SEG was written. Find the missing files, or write NIfTI (leave out "
            "--output-format)"
        )
    paths = list(dict.fromkeys(plane.path for plane in geometry.slices))
    datasets: list[Dataset] = [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]
    for keyword in REQUIRED_SOURCE_KEYWORDS:
        if not datasets[0].get(keyword):
            raise ImageReadError(
                f"{paths[0]}: names no {keyword}, so no DICOM SEG can join its study and space; re-export the "
                "series with it, or write NIfTI"
            )
    for ds in datasets:
        for keyword in TYPE2_SOURCE_KEYWORDS:
            if keyword not in ds:
                setattr(ds, keyword, "")
    return datasets


def highdicom_volume(volume: Volume, frame_of_reference_uid: str) -> hd.Volume:
    """`volume` as highdicom's: the same `(Z, Y, X)` array, so that its frames are the slices, with the LPS
    affine of indices `(k, j, i)`."""
    import highdicom as hd

    affine = np.eye(4)
    affine[:3, :3] = (volume.direction @ np.diag(volume.spacing))[:, ::-1]
    affine[:3, 3] = volume.origin
    return hd.Volume(volume.array, affine, "PATIENT", frame_of_reference_uid)


def from_highdicom(volume: hd.Volume) -> Volume:
    """The inverse of `highdicom_volume`, its slices stacked along row × column as a series is read."""
    volume = volume.ensure_handedness(
        "LEFT_HANDED", flip_axis=0
    )  # (k, j, i) left-handed: (i, j, k) right-handed
    matrix = volume.affine[:3, :3][:, ::-1]
    spacing = np.linalg.norm(matrix, axis=0)
    return Volume(
        np.ascontiguousarray(volume.array), tuple(spacing), tuple(volume.affine[:3, 3]), matrix / spacing
    )


def on_grid(label: Volume, grid: Volume) -> Volume:
    """`label` resampled (nearest neighbour) onto `grid`'s voxels; itself when it already lies on them."""
    if label.shape == grid.shape and np.allclose(label.affine, grid.affine, atol=1e-4):
        return label
    resampled = sitk.Resample(label.to_sitk(), grid.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return Volume.from_sitk(resampled, meta=dict(label.meta), notes=list(label.notes))


def read_seg(
    path: Path, reference: DicomSeries | None, *, interpolate_missing_slices: bool = False
) -> Volume:
    """The label volume of the SEG at `path` (see the module docstring); ImageReadError naming the file when
    it cannot be read, holds no labels (FRACTIONAL) or its segments overlap, and naming the folder when the
    referenced series misses slices (its image would be refused too) unless `interpolate_missing_slices`."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except (OSError, ValueError, AttributeError, RuntimeError) as exc:
        raise ImageReadError(f"{path}: cannot read this DICOM SEG ({_reason(exc)})") from exc
    if seg.get("SegmentationType") == "FRACTIONAL":
        raise ImageReadError(
            f"{path}: SegmentationType is FRACTIONAL (a probability or occupancy per voxel), and a label "
            "volume holds labels; nothing is thresholded for you. Export the segmentation as a BINARY SEG "
            "from the tool that made it, then convert again"
        )
    try:
        numbers = list(seg.segment_numbers)
        read = seg.get_volume(combine_segments=True, relabel=True, dtype=np.uint16)
    except (OSError, ValueError, AttributeError, RuntimeError) as exc:
        raise ImageReadError(f"{path}: cannot read this DICOM SEG ({_reason(exc)})") from exc
    own = from_highdicom(read)
    own.array = own.array.astype(np.uint8) if len(numbers) < 256 else own.array
    segments = [_segment(seg, number, value) for value, number in enumerate(numbers, start=1)]
    meta: dict[str, Any] = {"Modality": "SEG", "Segments": segments}
    if reference is None:
        note = (
            "its referenced series is not in -d: converted on the SEG's own geometry (the extent of its "
            "frames); put the image series beside it to get the label on the image's grid"
        )
        return Volume(own.array, own.spacing, own.origin, own.direction, meta=meta, notes=[note])
    grid = series_grid(reference, interpolate_missing_slices=interpolate_missing_slices)
    label = on_grid(Volume(own.array, own.spacing, own.origin, own.direction), grid)
    return Volume(label.array, grid.spacing, grid.origin, grid.direction, meta=meta)


def _segment(seg: Any, number: int, value: int) -> dict[str, Any]:
    """What the sidecar says of one segment: its label value, number, label and property type."""
    description = seg.get_segment_description(number)
    kind = description.segmented_property_type
    return {
        "value": value,
        "segment_number": number,
        "label": str(description.segment_label),
        "type": f"{kind.meaning} ({kind.scheme_designator} {kind.value})",
    }


def _reason(exc: Exception) -> str:
    """Why highdicom refused a SEG, with a fix for the one case users meet: overlapping segments."""
    text = str(exc) or type(exc).__name__
    if "overlap" in text.lower():
        return (
            f"{text}; its segments overlap, so one label volume would lose a label where they do: export "
            "one SEG per segment or make the segments mutually exclusive"
        )
    return text
