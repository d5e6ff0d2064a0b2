"""The deploy test's fixtures: the seed's AIAA config and CT volumes."""

from tests.aiaa.conftest import aiaa_config, ct_folder  # noqa: F401
