"""Which files under a folder are DICOM, and which DICOM objects are slices of a volume.

Files are DICOM by a `.dcm` name or the `DICM` magic. Beside them, files too short for the magic but named like
slices are kept, so that an emptied slice is noticed (it fails its series) rather than silently missed. An object
is skipped only when it is known not to be a slice: its SOP Class is not an image, its modality is not an image,
it is a localizer or a colour image. Pixel data that pydicom dropped because the file was cut short does not make
an object "not an image": only its SOP Class can say that.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

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
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Image SOP Classes whose name lacks "Image Storage" (pydicom's UID.name), for telling cut-short images apart
IMAGE_CLASSES_WITHOUT_THE_WORD = {"Parametric Map Storage", "Enhanced US Volume Storage"}


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


def looks_like_cut_slice(path: Path) -> bool:
    """Too short for the DICM magic, yet named like the numbered slices scanners write without a suffix
    (`2062`, `IM0001`, `1.3.12.2.1107`): a slice cut short, not a text file such as VERSION or LOCKFILE."""
    suffix = path.suffix[1:]
    named_like_a_slice = any(c.isdigit() for c in path.name) and (not suffix or suffix.isdigit())
    try:
        return named_like_a_slice and path.stat().st_size < 132
    except OSError:
        return False


def find_dicom_files(folder: Path, *, exclude: Path | None = None) -> list[Path]:
    """Every file under `folder` that looks like DICOM, sorted; `exclude` (e.g. the output folder) is not walked.

    Beside DICOM files, files that look like slices cut short (`looks_like_cut_slice`) are returned too, so
    an emptied slice fails its series instead of leaving an unnoticed hole.
    """
    found: list[Path] = []
    excluded = exclude.resolve() if exclude else None
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (Path(root, d).resolve() != excluded))
        paths = [Path(root, name) for name in sorted(files) if not name.startswith(".")]
        dicom = [looks_like_dicom(path) for path in paths]
        if any(dicom):
            found += [
                path
                for path, is_dicom in zip(paths, dicom, strict=True)
                if is_dicom or looks_like_cut_slice(path)
            ]
    return found


def sop_class(ds: Dataset) -> UID | None:
    """The SOP Class of a dataset: from its file meta, else its own SOPClassUID; None when neither survived."""
    meta = getattr(ds, "file_meta", None)
    value = (meta.get("MediaStorageSOPClassUID") if meta is not None else None) or ds.get("SOPClassUID")
    return UID(str(value)) if value else None


def has_pixels(ds: Dataset) -> bool:
    return any(keyword in ds for keyword in PIXEL_KEYWORDS)


def skip_reason(ds: Dataset) -> str | None:
    """Why a readable dataset is known not to be a slice of a volume; None for an image (whole or damaged)."""
    sop = sop_class(ds)
    if not has_pixels(ds):
        # pydicom drops pixel data cut short; only a SOP Class that is not an image says "not an image"
        if sop is None or "Image Storage" in sop.name or sop.name in IMAGE_CLASSES_WITHOUT_THE_WORD:
            return None
        return f"not an image ({sop.name})"
    if str(ds.get("Modality", "")).upper() in NON_IMAGE_MODALITIES:
        return f"non-image object (Modality {ds.Modality})"
    if "LOCALIZER" in [str(v).upper() for v in ds.get("ImageType", [])]:
        return "localizer (ImageType LOCALIZER)"
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return "colour image (SamplesPerPixel > 1): not a scalar volume"
    return None
