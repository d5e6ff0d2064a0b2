"""`.nii.gz` streams go through ISA-L when `isal` is installed and through zlib without it: the same files."""

from __future__ import annotations

import sys
import zlib

import nibabel as nib
import numpy as np
import pytest

import clara_tlt.io.image as image_module
import clara_tlt.written as written_module
from clara_tlt.errors import ImageReadError
from clara_tlt.io import Volume, read_image, write_image

INSTALLED = written_module.DEFLATE


def use(monkeypatch: pytest.MonkeyPatch, module: object) -> None:
    """Deflate and inflate with `module` (zlib, or ISA-L's isal_zlib) in our writer and readers."""
    monkeypatch.setattr(image_module, "DEFLATE", module)
    monkeypatch.setattr(written_module, "DEFLATE", module)
    monkeypatch.setattr(written_module, "DEFLATE_ERRORS", (zlib.error, module.error))  # type: ignore[attr-defined]


def test_without_isal_zlib_does_the_work(monkeypatch):
    monkeypatch.setitem(sys.modules, "isal", None)  # `import isal` raises ImportError
    assert written_module._deflate_module() is zlib


@pytest.mark.parametrize("writer, reader", [(zlib, INSTALLED), (INSTALLED, zlib)])
def test_files_written_with_one_module_read_the_same_with_the_other(tmp_path, monkeypatch, writer, reader):
    array = np.random.default_rng(0).integers(-1000, 1000, (20, 24, 28)).astype(np.int16)
    use(monkeypatch, writer)
    path = write_image(Volume(array, spacing=(1.0, 1.5, 2.0)), tmp_path / "ct.nii.gz")
    use(monkeypatch, reader)
    assert np.array_equal(read_image(path).array, array)
    assert np.array_equal(np.asarray(nib.load(path).dataobj).T, array)  # nibabel's gzip reads it too


@pytest.mark.parametrize("module", [zlib, INSTALLED])
def test_a_damaged_stream_is_refused_naming_the_file_with_either_module(tmp_path, monkeypatch, module):
    array = np.random.default_rng(1).integers(0, 255, (16, 16, 16)).astype(np.uint8)
    path = write_image(Volume(array), tmp_path / "label.nii.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeros in the middle of the deflate stream
    path.write_bytes(bytes(data))
    use(monkeypatch, module)
    with pytest.raises(ImageReadError, match=str(path)):
        read_image(path)
