"""Where a Clara 4.x evaluator's `SaveImaged` would write each case, checked before any case is read.

MONAI's `FolderLayout` names an output after its input's file name only (`a/ct.nii.gz` and `b/ct.nii.gz` both
become `ct/ct_seg.nii.gz`) unless `data_root_dir` keeps the folders: the second case would silently replace the
first. As with 3.x writers (clara_tlt.io.outputs.output_names), such inputs are refused, exit 4, nothing done.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from monai.transforms import Compose, SaveImaged

from clara_tlt.errors import NoInputError


def savers(transform: Any) -> Iterator[SaveImaged]:
    """Every `SaveImaged` in `transform` (a list or Compose of transforms, nested or not, or a single one)."""
    if isinstance(transform, SaveImaged):
        yield transform
    elif isinstance(transform, Compose | list | tuple):
        for inner in transform.transforms if isinstance(transform, Compose) else transform:
            yield from savers(inner)


def check_saved_names(postprocessing: Any, entries: Sequence[Mapping[str, Any]], *, file: str) -> None:
    """NoInputError naming the clashing inputs and the fix when two entries' images would be saved to one file."""
    sources = [str(entry["image"]) for entry in entries if isinstance(entry.get("image"), str)]
    for saver in savers(postprocessing):
        written: dict[str, list[str]] = {}
        for source in sources:
            written.setdefault(str(saver.saver.folder_layout.filename(subject=source)), []).append(source)
        clashes = {path: inputs for path, inputs in written.items() if len(inputs) > 1}
        if clashes:
            raise NoInputError(
                f"{file}: SaveImaged would write several inputs to the same file, each replacing the one "
                "before; nothing was done:\n"
                + "\n".join(f"- {path}: {', '.join(inputs)}" for path, inputs in clashes.items())
                + '\nSet "data_root_dir": "{DATA_ROOT}" in its args (the output keeps the folders below it), '
                "or rename one of each pair"
            )
