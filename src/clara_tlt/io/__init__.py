"""Image I/O with geometry kept end to end: `read_image` / `write_image` (NIfTI, MetaImage, NRRD, DICOM),
`read_channels` for images of several channels (4-D NIfTI), DICOM series discovery and reading,
regularisation of uneven/tilted stacks, and resampling. `read_array` / `write_array` hand images over as MONAI
and nibabel index them (`(x, y[, z][, C])`, RAS affine) and read pictures and NumPy files too; `array_suffix`
names the format of any path they read. Damaged input (files that end early, unreadable DICOM slices, missing
slices, NaN voxels, pictures or NumPy files that cannot be decoded) raises `clara_tlt.errors.ImageReadError`,
re-exported here.

Layer: io, right above errors/atomic/written (tests/layers.py): config and everything above may use it.

>>> from clara_tlt.io import read_image, resample_volume, write_image
>>> write_image(resample_volume(read_image("dicom/ct"), (1.0, 1.0, 1.0)), "ct.nii.gz")  # doctest: +SKIP
"""

from clara_tlt.errors import ImageReadError
from clara_tlt.io.arrays import array_suffix, read_array, write_array
from clara_tlt.io.dicom_scan import DicomSeries, ScanResult, scan_dicom_folder
from clara_tlt.io.dicom_series import read_dicom_folder, read_series
from clara_tlt.io.image import ITK_SUFFIXES, read_channels, read_image, suffix_of, write_image
from clara_tlt.io.integrity import check_finite
from clara_tlt.io.resample import resample_volume
from clara_tlt.io.volume import Volume

__all__ = [
    "ITK_SUFFIXES",
    "DicomSeries",
    "ImageReadError",
    "ScanResult",
    "Volume",
    "array_suffix",
    "check_finite",
    "read_array",
    "read_channels",
    "read_dicom_folder",
    "read_image",
    "read_series",
    "resample_volume",
    "scan_dicom_folder",
    "suffix_of",
    "write_array",
    "write_image",
]
