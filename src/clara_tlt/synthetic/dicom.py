"""Write synthetic DICOM CT series from a numpy HU volume: regular, oblique, gantry-tilted, unevenly spaced.

Used by the tests, the benchmarks and the example-data maker. Geometry is explicit: `spacing` `(sx, sy, sz)` mm,
`origin` `(x, y, z)` LPS mm of the first voxel, `orientation` the six direction cosines of
ImageOrientationPatient (row, then column). Slices stack along the slice normal (row × column) unless
`slice_offsets` gives each slice's distance from the first (uneven gaps) or `gantry_tilt` tilts the image
planes about the row axis while the table still moves along the untilted normal, as a tilted CT gantry does.

>>> import numpy as np
>>> hu = np.full((12, 32, 32), -1000, np.int16)
>>> files = write_dicom_series(hu, Path("dicom/ct"), spacing=(0.8, 0.8, 2.5))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

RESCALE_INTERCEPT = -1024


def slice_planes(
    count: int,
    *,
    spacing_z: float = 1.0,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    gantry_tilt: float = 0.0,
    slice_offsets: Sequence[float] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`(ImagePositionPatient (3,), ImageOrientationPatient (6,))` of each slice, in writing order."""
    cosines = np.asarray(orientation, dtype=np.float64)
    row, column = cosines[:3] / np.linalg.norm(cosines[:3]), cosines[3:] / np.linalg.norm(cosines[3:])
    normal = np.cross(row, column)
    tilt = np.radians(gantry_tilt)
    tilted_column = np.cos(tilt) * column + np.sin(tilt) * normal
    offsets = (
        np.arange(count) * spacing_z if slice_offsets is None else np.asarray(slice_offsets, dtype=np.float64)
    )
    if len(offsets) != count:
        raise ValueError(f"slice_offsets has {len(offsets)} values for {count} slices")
    iop = np.concatenate([row, tilted_column])
    return [(np.asarray(origin, dtype=np.float64) + offset * normal, iop) for offset in offsets]


def _base_dataset(
    rows: int,
    columns: int,
    spacing: Sequence[float],
    study_uid: str,
    series_uid: str,
    series_number: int,
    description: str,
    patient_name: str,
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.PatientName = patient_name
    ds.PatientID = "SYNTHETIC-0001"
    ds.PatientBirthDate = "19700101"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.Manufacturer = "clara_tlt synthetic"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.PixelSpacing = [f"{spacing[1]:.6g}", f"{spacing[0]:.6g}"]  # (between rows, between columns)
    ds.SliceThickness = f"{spacing[2]:.6g}"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    return ds


def _save(ds: Dataset, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def write_dicom_series(
    volume_hu: np.ndarray,
    folder: Path,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    series_uid: str | None = None,
    study_uid: str | None = None,
    series_number: int = 1,
    description: str = "synthetic CT",
    gantry_tilt: float = 0.0,
    slice_offsets: Sequence[float] | None = None,
    shuffle_seed: int | None = None,
    prefix: str = "IM",
    localizer: bool = False,
    patient_name: str = "SYNTHETIC^PATIENT",
) -> list[Path]:
    """Write `volume_hu` `(Z, Y, X)` (int16 HU) as one CT slice per file under `folder`; returns the files.

    `shuffle_seed` permutes file names and InstanceNumbers, so readers must sort by position. Write two series
    into one folder by calling twice with different `prefix` (and series_uid). `localizer` adds a sagittal
    scout with ImageType LOCALIZER to the series. Stored values are `HU - RescaleIntercept` (intercept -1024).
    """
    volume = np.asarray(volume_hu)
    if volume.ndim != 3:
        raise ValueError(f"volume_hu must be (Z, Y, X); got shape {volume.shape}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    planes = slice_planes(
        volume.shape[0],
        spacing_z=float(spacing[2]),
        origin=origin,
        orientation=orientation,
        gantry_tilt=gantry_tilt,
        slice_offsets=slice_offsets,
    )
    order = np.arange(volume.shape[0])
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(volume.shape[0])
    base = _base_dataset(
        volume.shape[1],
        volume.shape[2],
        spacing,
        study_uid,
        series_uid,
        series_number,
        description,
        patient_name,
    )
    stored = (volume.astype(np.int32) - RESCALE_INTERCEPT).astype(np.int16)
    files = _write_slices(base, stored, planes, order=order, folder=folder, prefix=prefix)
    if localizer:
        files.append(_write_localizer(base, folder / f"{prefix}_scout.dcm", origin))
    return files


def _write_localizer(base: Dataset, path: Path, origin: Sequence[float]) -> Path:
    ds = base.copy()
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 0
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in origin]
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
    ds.PixelData = np.zeros((int(ds.Rows), int(ds.Columns)), np.int16).tobytes()
    _save(ds, path)
    return path


def _write_slices(
    base: Dataset,
    stored: np.ndarray,
    planes: list[tuple[np.ndarray, np.ndarray]],
    *,
    order: np.ndarray,
    folder: Path,
    prefix: str,
) -> list[Path]:
    """One file `<prefix><number>.dcm` under `folder` per slice of `stored` `(Z, Y, X)`: slice `k` at `planes[k]`, numbered
    `order[k]` (InstanceNumber `order[k] + 1`), each with its own SOPInstanceUID."""
    files = []
    for k, (position, iop) in enumerate(planes):
        ds = base.copy()
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = int(order[k]) + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = folder / f"{prefix}{int(order[k]):04d}.dcm"
        _save(ds, path)
        files.append(path)
    return files
