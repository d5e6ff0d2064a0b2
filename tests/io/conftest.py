"""Real DICOM shipped with pydicom / pydicom-data (never downloaded), and SimpleITK as the reference reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from clara_tlt.io import Volume

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
CT_SERIES = PYDICOM_TEST_FILES / "dicomdirtests" / "98892001" / "CT5N"  # 5 real CT slices, 2.5 mm
CT_UNEVEN = PYDICOM_TEST_FILES / "dicomdirtests" / "77654033" / "CT2"  # 4 real CT slices, one 202.5 mm gap
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
DAMAGES = ["zero bytes", "header cut short", "pixel data missing", "pixel data cut short"]


def pydicom_file(name: str) -> str:
    """A pydicom test file by exact name: in pydicom or the installed pydicom-data package (offline)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not installed (pydicom-data missing)")
    return str(path)


def damage(path: Path, how: str) -> None:
    """Damage one DICOM file the ways copies and exports go wrong."""
    data = path.read_bytes()
    pixel_at = data.rfind(PIXEL_DATA_TAG)
    cut = {
        "zero bytes": 0,
        "header cut short": pixel_at // 2,
        "pixel data missing": pixel_at,
        "pixel data cut short": len(data) - 100,
    }[how]
    path.write_bytes(data[:cut])


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_geometry(volume: Volume, image: sitk.Image) -> None:
    """Direction equal, origin within 1e-3 mm, spacing within 1e-4 mm (the dataconvert fidelity bar)."""
    np.testing.assert_allclose(volume.direction.ravel(), image.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-4)
    assert volume.size == image.GetSize()


@pytest.fixture
def ct_hu() -> np.ndarray:
    """A 12×32×32 int16 HU volume: air, a body, a bone rod, noise."""
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[0:12, 0:32, 0:32]
    hu = np.where((y - 16) ** 2 + (x - 16) ** 2 < 144, 40, -1000) + np.where(
        (y - 18) ** 2 + (x - 12) ** 2 < 9, 900, 0
    )
    return (hu + rng.integers(-20, 20, hu.shape) + z).astype(np.int16)
