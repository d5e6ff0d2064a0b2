"""Where outputs go: names made from inputs stay inside their output folder and never clash, and output
folders are checked before any work.

Every command that names an output after an input (the infer/evaluate/deploy writers, dataconvert) takes the
name from `case_name`/`safe_name`, finds clashes before any work with `output_names`, and checks the final
target with `inside`. Every command that writes checks its output folders first with `check_output_folder`.

>>> output_names(["/data/a/ct.nii.gz", "/data/b/ct.nii.gz", "/data/b/mr.nii.gz"])
['a_ct', 'b_ct', 'mr']
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clara_tlt.errors import ClaraError, NoInputError, UsageError

OUTPUT_NAME = "output_name"  # the sample field that holds a case's output name (set by the Predictor)
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")  # separators and control characters
_NOT_ASCII = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, ascii_only: bool = False, fallback: str = "image") -> str:
    """One file-name component made from input text: `/`, `\\` and control characters become `_`, a leading
    dot becomes `_` (so never `.`, `..` or a hidden file), empty text becomes `fallback`; the rest is kept.

    `ascii_only` (dataconvert's DICOM folder names): every run of characters outside `A-Z a-z 0-9 . _ -`
    becomes one `_`, and `_` at either end goes.
    """
    name = _NOT_ASCII.sub("_", text).strip("_") if ascii_only else _UNSAFE.sub("_", text)
    if name.startswith("."):
        name = "_" + name[1:]
    return name or fallback


def case_name(source: str | Path | None) -> str:
    """`/data/case_003.nii.gz` → `case_003` (the whole image suffix goes); a DICOM folder `series/x/..` →
    `series`; `sample` without a source. Always one safe component (`safe_name`)."""
    from clara_tlt.io.arrays import array_suffix

    if not source:
        return "sample"
    name = Path(os.path.abspath(source)).name
    suffix = array_suffix(name)
    return safe_name(name[: -len(suffix)] if suffix else Path(name).stem)


def name_of(sample: dict[str, Any], source: str | Path | None) -> str:
    """The output name of a finished case: the one the Predictor gave it, else `case_name(source)`."""
    given = sample.get(OUTPUT_NAME)
    return safe_name(str(given)) if given else case_name(source)


def output_names(sources: Sequence[str | Path]) -> list[str]:
    """A distinct output name for each input: its `case_name`, with as many of its parent folders in front as
    tell it apart from the inputs that share that name (`a/ct.nii.gz`, `b/ct.nii.gz` → `a_ct`, `b_ct`).

    NoInputError (exit 4) before any work, listing the inputs and the name, when no parent folder tells them
    apart (a file listed twice, `ct.nii` beside `ct.nii.gz`).
    """
    bases = [case_name(s) for s in sources]
    parents = [[safe_name(p) for p in Path(os.path.abspath(s)).parent.parts[1:]] for s in sources]
    names = list(bases)
    for depth in range(1, max((len(p) for p in parents), default=0) + 1):
        clashing = _clashing(names)
        if not clashing:
            break
        for i in clashing:
            names[i] = "_".join([*parents[i][-depth:], bases[i]])
    clashing = _clashing(names)
    if clashing:
        groups: dict[str, list[str]] = {}
        for i in clashing:
            groups.setdefault(names[i], []).append(str(sources[i]))
        raise NoInputError(
            "inputs that would write the same output name, and no parent folder tells them apart; nothing "
            "was done:\n"
            + "\n".join(f"- '{case_name(files[0])}': {', '.join(files)}" for files in groups.values())
            + "\nRename one of each pair, or list each input only once"
        )
    return names


def _clashing(names: list[str]) -> list[int]:
    """Indices of the names that occur more than once."""
    counts = Counter(names)
    return [i for i, name in enumerate(names) if counts[name] > 1]


def name_entries(entries: Sequence[dict[str, Any]], source: Any) -> list[dict[str, Any]]:
    """Each entry with its `OUTPUT_NAME` (`output_names` of `source(entry)`); entries that all have one stay."""
    if all(OUTPUT_NAME in entry for entry in entries):
        return list(entries)
    names = output_names([source(entry) for entry in entries])
    return [{**entry, OUTPUT_NAME: name} for entry, name in zip(entries, names, strict=True)]


def inside(folder: str | Path, target: str | Path, *, source: str | Path | None) -> Path:
    """`target` when it lies inside `folder` once `..` are resolved; else refuse, naming the input."""
    root = os.path.abspath(folder)
    resolved = os.path.abspath(target)
    if os.path.commonpath([root, resolved]) != root or resolved == root:
        raise ClaraError(
            f"{source}: its output {target} would lie outside the output folder {folder}; nothing was "
            "written for it. Rename the input"
        )
    return Path(target)


def check_output_folder(folder: str | Path, *, flag: str) -> Path:
    """UsageError (exit 2) naming `flag` unless `folder` is, or can become, a folder we may write into.

    Touches nothing: writability is probed in the folder, or in its nearest existing parent when the folder
    does not exist yet (the writers create it). `flag` is what the user set: `--output_path`, `-o`,
    `MMAR_EVAL_OUTPUT_PATH`. Every command that writes calls this before any work.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag} {folder}: is a file, not a folder; choose a folder for the outputs")
    parent = folder.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {folder}: {parent} is a file, so the output folder cannot be created there")
    where = "" if parent == folder.absolute() else f" (its parent {parent} does not let us create it)"
    reason = None if os.access(parent, os.W_OK | os.X_OK) else "permission denied"
    if reason is None:
        try:
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
    if reason is not None:
        raise UsageError(
            f"{flag} {folder}: cannot write there{where}: {reason}; choose a folder you can write to"
        )
    return folder
