"""One error hierarchy: each error carries the process exit code and a message that says how to fix it.

The command line maps any `ClaraError` to its message on stderr and `sys.exit(error.exit_code)`;
library users catch the class they care about. Exit codes are documented in docs/exit-codes.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class ClaraError(Exception):
    """Base of every error a user can cause or fix; `exit_code` is what the command line exits with."""

    exit_code = 1


class UsageError(ClaraError):
    """Bad command-line use: a missing or contradictory option, an output that exists without --force."""

    exit_code = 2


class ConfigFile(str):
    """A loaded config's file name, as messages print it, knowing where each list item stands in the file.

    Loading drops the components marked `"disabled": true`, so an item's index in the loaded config can be
    smaller than in the file; every key path printed with this file names the file's index. `positions` maps
    the key path of each list that lost items, as loaded, to the file's index of each item kept:
    `ConfigFile("c.json", {"train.pre_transforms": (0, 2)}).as_written("train.pre_transforms[1].args")
    == "train.pre_transforms[2].args"`.
    """

    positions: dict[str, tuple[int, ...]]

    def __new__(cls, name: str, positions: Mapping[str, tuple[int, ...]] | None = None) -> ConfigFile:
        made = super().__new__(cls, name)
        made.positions = dict(positions or {})
        return made

    def as_written(self, text: str) -> str:
        """`text` with every list index of a key path into this config as the file has it."""
        if not self.positions:
            return text
        return INDEX.sub(lambda found: self._index_in_file(text, found), text)

    def _index_in_file(self, text: str, found: re.Match[str]) -> str:
        """The file's index for one `[n]` of `text`, which follows the key path of its list (as loaded)."""
        start = found.start()
        while start > 0 and KEY_PATH_CHARACTER.match(text[start - 1]):
            start -= 1
        kept = self.positions.get(text[start : found.start()])
        index = int(found.group(1))
        return f"[{kept[index]}]" if kept is not None and index < len(kept) else found.group(0)


INDEX = re.compile(r"\[(\d+)\]")
KEY_PATH_CHARACTER = re.compile(r"[\w.\[\]-]")


def as_written(file: str | None, text: str) -> str:
    """`text` with each key path into config `file` as the file has it (unchanged unless `file` is a ConfigFile
    whose loading dropped list items)."""
    return file.as_written(text) if isinstance(file, ConfigFile) else text


def located(message: str, *, file: str | None = None, key_path: str | None = None) -> str:
    """`file: key_path: message`, each key path in it as the file has it."""
    return as_written(file, "".join(f"{part}: " for part in (file, key_path) if part) + message)


class ConfigError(ClaraError):
    """An invalid config, environment.json, --set override or component spec.

    The message starts with the file and the key path, e.g.
    `config_train.json: train.loss.name: unknown loss 'Dcie'; did you mean 'Dice'?`. `key_path` and `reason`
    are kept as given (the loaded config's), the message names them as the file has them.
    """

    exit_code = 3

    def __init__(self, message: str, *, file: str | None = None, key_path: str | None = None) -> None:
        self.file = file
        self.key_path = key_path
        self.reason = message
        super().__init__(located(message, file=file, key_path=key_path))


class ImageReadError(ClaraError, ValueError):
    """An image file that cannot be read whole or holds values that cannot be used; the message names the file.

    A file that ends early, a damaged or missing DICOM slice, NaN or infinite voxels, a picture or NumPy file
    that cannot be decoded, a 4-D image where one volume is expected. A runtime error (exit 1): the config is
    right, the data is not; commands that process many inputs report it per input and exit 5 (1 when every input failed).
    """


class WriteError(ClaraError):
    """A file could not be written whole (a full disk, a quota, an I/O error, a writer that stopped short).

    A runtime error (exit 1); batch commands report it per item. Nothing half-written is left: the temporary
    file is removed and an older file at the target kept.
    """

    def __init__(self, path: str | Path, reason: str, *, kept: bool = False) -> None:
        self.path = Path(path)
        self.reason = reason
        self.kept = kept
        left = f"the older {self.path.name} there is kept" if kept else "nothing was left there"
        fix = "free some space there or write elsewhere, then run again"
        if not reason.startswith(("no space left", "disk quota exceeded")):
            fix = "check the device and the folder, then run again"
        super().__init__(f"{self.path}: not written: {reason}; {left}; {fix}")

    def __reduce__(self) -> tuple[Any, tuple[Path, str]]:
        """Pickled whole: a worker process's failure reaches the parent as it was raised."""
        return (functools.partial(type(self), kept=self.kept), (self.path, self.reason))


class NoInputError(ClaraError):
    """No input data was found (empty input folder, datalist entries whose files do not exist)."""

    exit_code = 4


class PartialFailure(ClaraError):
    """Some items of a batch failed; the others were done. The message lists each failure."""

    exit_code = 5


class NothingDone(ClaraError):
    """Every item of a batch failed: none was done. The message lists each failure."""

    exit_code = 1


def batch_failure(total: int, failures: Sequence[str], *, items: str = "items") -> ClaraError | None:
    """How a batch of `total` `items` ends when `failures` (one `item: reason` line each) failed: None when none
    did, PartialFailure (exit 5) when some were done, NothingDone (exit 1) when none was; each failure listed."""
    if not failures:
        return None
    listed = "\n".join(f"- {failure}" for failure in failures)
    if len(failures) < total:
        return PartialFailure(f"{len(failures)} of {total} {items} failed; the others were done:\n{listed}")
    return NothingDone(f"none of the {total} {items} was done; each failed:\n{listed}")


class DownloadError(ClaraError):
    """A download failed, a checksum did not match, or an archive tried to escape its folder."""

    exit_code = 6


class Interrupted(ClaraError):
    """Stopped by Ctrl-C or SIGTERM after saving what could be saved."""

    exit_code = 130


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "runtime error",
    2: "usage error",
    ConfigError.exit_code: "invalid config",
    NoInputError.exit_code: "no usable input data",
    PartialFailure.exit_code: "partial failure (some items failed, the rest done; 1 when none was done)",
    DownloadError.exit_code: "download or checksum failure",
    Interrupted.exit_code: "interrupted (state saved)",
}
