"""`Volume`: a voxel array with its place in the patient (spacing, origin, direction), as ITK keeps it.

Arrays are indexed `[k, j, i]` (slice, row, column) with shape `(Z, Y, X)`, as `SimpleITK.GetArrayFromImage`
gives them; geometry is in LPS millimetres (the DICOM patient frame). `affine` gives the RAS 4×4 matrix that
nibabel and MONAI use, so orientation survives every hand-over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])  # its own inverse: RAS → LPS is the same flip


@dataclass
class Volume:
    """A 3-D image: `array` `(Z, Y, X)`, `spacing` `(sx, sy, sz)` mm, `origin` `(x, y, z)` LPS mm of voxel
    `[0, 0, 0]`'s centre, `direction` 3×3 whose columns are the i, j, k axes in LPS.

    `meta` holds series metadata safe to publish (never patient identifiers); `notes` says what was done to
    the data on the way (slices dropped, gaps regularised).

    >>> v = Volume(np.zeros((2, 3, 4), np.int16), spacing=(1.0, 1.0, 2.5))
    >>> v.shape, float(v.affine[2, 2])
    ((2, 3, 4), 2.5)
    """

    array: np.ndarray
    spacing: tuple[float, ...] = (1.0, 1.0, 1.0)
    origin: tuple[float, ...] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is 3-D (Z, Y, X); got an array of shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        if len(self.spacing) != 3 or len(self.origin) != 3:
            raise ValueError(f"spacing and origin have 3 values (x, y, z); got {self.spacing}, {self.origin}")
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def size(self) -> tuple[int, int, int]:
        """Size in ITK order `(X, Y, Z)`."""
        return tuple(int(n) for n in self.array.shape[::-1])  # type: ignore[return-value]

    @property
    def affine(self) -> np.ndarray:
        """The 4×4 voxel `(i, j, k)` → RAS mm matrix (nibabel / MONAI convention)."""
        affine = np.eye(4)
        affine[:3, :3] = _LPS_TO_RAS @ self.direction @ np.diag(self.spacing)
        affine[:3, 3] = _LPS_TO_RAS @ np.asarray(self.origin)
        return affine

    @classmethod
    def from_affine(cls, array: np.ndarray, affine: np.ndarray, **kwargs: Any) -> Volume:
        """A volume from `array` `(Z, Y, X)` and the RAS 4×4 affine of its voxels `(i, j, k)`: the inverse of
        `affine`, for arrays that come from nibabel or MONAI (transpose their `(x, y, z)` first).

        >>> Volume.from_affine(np.zeros((2, 3, 4)), np.diag([-0.5, -0.5, 2.0, 1.0])).spacing
        (0.5, 0.5, 2.0)
        """
        spacing, origin, direction = lps_geometry(affine)
        return cls(array, spacing=spacing, origin=origin, direction=direction, **kwargs)

    def index_to_physical(self, ijk: np.ndarray) -> np.ndarray:
        """Points `(N, 3)` of voxel indices `(i, j, k)` → LPS mm `(N, 3)`."""
        return np.asarray(self.origin) + (np.asarray(ijk, dtype=np.float64) * self.spacing) @ self.direction.T

    def to_sitk(self) -> sitk.Image:
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(self.direction.ravel()))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, **kwargs: Any) -> Volume:
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError(
                f"expected a 3-D single-channel image; got {image.GetDimension()}-D with "
                f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
            )
        return cls(
            sitk.GetArrayFromImage(image),
            spacing=image.GetSpacing(),
            origin=image.GetOrigin(),
            direction=np.array(image.GetDirection()).reshape(3, 3),
            **kwargs,
        )


def lps_geometry(affine: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...], np.ndarray]:
    """`(spacing, origin, direction)` in ITK's LPS terms of a RAS 4×4 voxel `(i, j, k)` → mm affine."""
    if np.shape(affine) != (4, 4):
        raise ValueError(f"a volume's affine is 4×4; got shape {np.shape(affine)}")
    lps = _LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    if not np.all(spacing > 0):
        raise ValueError(f"the affine gives a voxel axis of zero length: {np.asarray(affine).tolist()}")
    return tuple(float(s) for s in spacing), tuple(float(o) for o in lps[:, 3]), lps[:, :3] / spacing
