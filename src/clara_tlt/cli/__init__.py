"""Command line: the lazy `clara-tlt` group and the `tlt-*` console scripts (no torch import until a command runs)."""
