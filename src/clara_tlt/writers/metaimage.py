"""`WriteMhd`: one field of a case as MetaImage (`<name>_<field>.mhd` + `.raw`), named as the NIfTI writer names."""

from __future__ import annotations

from clara_tlt.transforms.io import WriteNiftyResults


class WriteMhd(WriteNiftyResults):
    """Write field `<key>` `(1, X, Y, Z)` or `(X, Y, Z)` to `<write_path>/<name>/<name>_<key>.mhd` (+ `.raw`).

    MONAI: `SaveImaged(keys, output_dir, output_postfix, output_ext=".mhd")`.
    """

    suffix = ".mhd"
