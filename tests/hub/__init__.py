"""Tests of clara_tlt.hub and the pull command (a package, so its conftest does not shadow tests/conftest.py)."""
