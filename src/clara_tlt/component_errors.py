"""Which exceptions raised while building a component are the user's (a config error, exit 3) and which are ours.

A library rejecting an argument value raises from its own code; a bug in clara_tlt raises from ours; a missing
optional package names itself in an `ImportError`.
"""

from __future__ import annotations

import re
import traceback

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


def raised_in_our_code(error: BaseException) -> bool:
    """Whether the innermost frame of `error`'s traceback is in a clara_tlt module."""
    frames = list(traceback.walk_tb(error.__traceback__))
    if not frames:
        return False
    module = str(frames[-1][0].f_globals.get("__name__", ""))
    return module == OUR_PACKAGE or module.startswith(OUR_PACKAGE + ".")
