"""clara_tlt: the Clara Train tlt-* workflow on PyTorch and MONAI.

Importing the package is cheap (no torch): commands and components import heavy libraries lazily.
"""

__version__ = "0.1.0"
