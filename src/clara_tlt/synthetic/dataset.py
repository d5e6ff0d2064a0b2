"""Write a small synthetic segmentation dataset: NIfTI images and labels plus a datalist.json in the seed's format.

Layout (paths in the datalist are relative to it, as seed 003 §5.3 shows)::

    OUT/datalist.json        {"training": [{"image": "imagesTr/case_000.nii.gz", "label": "labelsTr/..."}], "validation": [...]}
    OUT/imagesTr/ OUT/labelsTr/    NIfTI, int16 HU images and uint8 labels
    OUT/dicom/case_000/      (with dicom=True) each image also as a DICOM CT series, for dataconvert
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from clara_tlt.atomic import atomic_path, write_text_atomic
from clara_tlt.synthetic.volumes import SyntheticCase, make_case


def write_nifti(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    """Save `array` with `affine` as NIfTI, atomically."""
    image = nib.Nifti1Image(array, affine)
    image.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


def write_dataset(
    out_dir: str | Path,
    *,
    num_training: int = 4,
    num_validation: int = 2,
    shape: tuple[int, int, int] = (48, 48, 24),
    spacing: tuple[float, float, float] = (1.5, 1.5, 3.0),
    dicom: bool = False,
    seed: int = 0,
) -> Path:
    """Write the dataset and return the datalist's path. Each case gets its own seed (`seed + index`)."""
    out = Path(out_dir)
    datalist: dict[str, list[dict[str, Any]]] = {"training": [], "validation": []}
    total = num_training + num_validation
    for index in range(total):
        case = make_case(shape, spacing, seed=seed + index)
        name = f"case_{index:03d}"
        write_nifti(case.image, case.affine, out / "imagesTr" / f"{name}.nii.gz")
        write_nifti(case.label, case.affine, out / "labelsTr" / f"{name}.nii.gz")
        split = "training" if index < num_training else "validation"
        datalist[split].append({"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz"})
        if dicom:
            _write_dicom(case, out / "dicom" / name)
    path = out / "datalist.json"
    write_text_atomic(path, json.dumps(datalist, indent=2) + "\n")
    return path


def _write_dicom(case: SyntheticCase, folder: Path) -> None:
    """The case's image as a DICOM series: DICOM wants (z, y, x) slices and LPS geometry."""
    from clara_tlt.io.volume import Volume
    from clara_tlt.synthetic.dicom import write_dicom_series

    volume = Volume.from_affine(case.image.transpose(2, 1, 0), case.affine)
    write_dicom_series(
        np.ascontiguousarray(volume.array),
        folder,
        spacing=volume.spacing,
        origin=volume.origin,
        orientation=tuple(float(v) for v in (*volume.direction[:, 0], *volume.direction[:, 1])),
    )
