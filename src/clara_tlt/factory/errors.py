"""Which exceptions raised while building a component are the user's (a config error, exit 3) and which are ours.

A library rejecting an argument value raises from its own code; a bug in clara_tlt raises from ours; a missing
optional package names itself in an `ImportError`.
"""

from __future__ import annotations

import re
import traceback
from types import ModuleType

OUR_PACKAGE = __name__.split(".")[0]
# Import names whose package on PyPI is called otherwise (for the install hint of a missing package).
PIP_NAMES = {
    "PIL": "pillow",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
}


def missing_package(error: ImportError) -> str | None:
    """The top-level package an import error says is not installed (None: not that kind, or one of ours).

    MONAI's `OptionalImportError` carries no module name, only "... (No module named 'x')" in its message.
    """
    name = error.name if isinstance(error, ModuleNotFoundError) else None
    if name is None:
        found = re.search(r"No module named '([\w.]+)'", str(error))
        name = found.group(1) if found else None
    package = name.split(".")[0] if name else None
    return None if package in (None, OUR_PACKAGE) else package


TENSORFLOW_PACKAGES = ("tensorflow", "keras")  # Clara 3.x components built on either need TensorFlow


def tensorflow_importer(error: ImportError) -> str | None:
    """The file whose import of TensorFlow (or Keras) failed, or None where `error` is about another package."""
    if missing_package(error) not in TENSORFLOW_PACKAGES:
        return None
    files = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.__traceback__)]
    user_files = [name for name in files if not name.startswith("<")]  # not importlib's frozen frames
    return user_files[-1] if user_files else "?"


def imports_tensorflow(module: ModuleType) -> bool:
    """Whether a user's module (not an installed library) holds TensorFlow or Keras among its names: where they
    are installed, it imported them."""
    installed = any(
        part in str(getattr(module, "__file__", "")) for part in ("site-packages", "dist-packages")
    )
    return not installed and any(
        isinstance(value, ModuleType) and value.__name__.split(".")[0] in TENSORFLOW_PACKAGES
        for value in vars(module).values()
    )


def raised_in_our_code(error: BaseException) -> bool:
    """Whether the innermost frame of `error`'s traceback is in a clara_tlt module."""
    frames = list(traceback.walk_tb(error.__traceback__))
    if not frames:
        return False
    return is_ours(str(frames[-1][0].f_globals.get("__name__", "")))


def is_ours(module: str) -> bool:
    """Whether `module` (a dotted name) is clara_tlt or one of its modules."""
    return module == OUR_PACKAGE or module.startswith(OUR_PACKAGE + ".")
