"""Key paths (`train.pre_transforms[3].args.a_min`): how errors point into a config."""

from __future__ import annotations


def child(path: str, key: str | int) -> str:
    """The key path of `key` under `path`: `child("train", "loss") == "train.loss"`, `child("t", 0) == "t[0]"`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key
