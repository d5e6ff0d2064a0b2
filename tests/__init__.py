"""clara_tlt test suite (a package, so each folder's conftest and helpers keep their own names)."""
