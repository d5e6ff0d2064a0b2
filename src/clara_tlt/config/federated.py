"""Clara's federated-learning orchestration sections (config_fed_client.json, config_fed_server.json and the FL
MMARs' configs): servers, the client's rounds and privacy, model processors and filters. A run here trains this
client locally from the config's training sections; orchestration is out of scope, so these sections are
accepted, kept out of the global variables, and named once in the log.
"""

from __future__ import annotations

from typing import Any

from clara_tlt.errors import ConfigError

FEDERATED_KEYS = frozenset(
    {
        "servers",
        "client",
        "federated",
        "aggregator",
        "pre_processors",
        "post_processors",
        "req_processors",
        "result_processors",
        "admin_cmd_modules",
        "model_saver",
        "model_reader_writer",
        "model_validator",
        "model_persistor",
        "shareable_generator",
        "inbound_filters",
        "outbound_filters",
        "format_version",
    }
)


def federated_sections(data: dict[str, Any]) -> list[str]:
    """The orchestration sections a config holds, in config order."""
    return [key for key in data if key in FEDERATED_KEYS]


def federated_note(data: dict[str, Any], file: str) -> str | None:
    """The one log line that says which orchestration sections this run leaves alone; None when there are none."""
    sections = federated_sections(data)
    if not sections:
        return None
    return (
        f"{file}: federated-learning orchestration ({', '.join(sections)}) is not run here; "
        "this run trains the client's model locally from the config's training sections"
    )


def check_trains(data: dict[str, Any], file: str) -> None:
    """A federated client config with no `train` section (Clara 3.1's config_fed_client.json next to the MMAR's
    config_train.json) has nothing to train locally: exit 3 naming the config that does."""
    if federated_sections(data) and "train" not in data:
        raise ConfigError(
            "a federated-learning client config with no 'train' section: the FL client trained with the MMAR's "
            "training config; run train with -c config/config_train.json (orchestration is not run here)",
            file=file,
        )
