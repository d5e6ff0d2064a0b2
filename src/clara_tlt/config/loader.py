"""Load a Clara config: environment, global variables, --set overrides, `{NAME}` substitution, `disabled`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_tlt.config.clara4 import CLARA4_SLOTS, is_clara4
from clara_tlt.config.environment import ENGINE_VARIABLES, load_environment, resolve_paths
from clara_tlt.config.federated import FEDERATED_KEYS
from clara_tlt.config.globals import ENGINE_GLOBALS
from clara_tlt.config.jsonfile import read_json
from clara_tlt.config.keypath import child
from clara_tlt.config.mmar import code_folders
from clara_tlt.config.overrides import DISABLED, Override, apply_override
from clara_tlt.config.slots import SECTION_KEYS, SLOT_KINDS
from clara_tlt.config.substitution import referenced_names, substitute
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError, ConfigFile

Positions = dict[str, tuple[int, ...]]  # a list's key path as loaded → the file's index of each item kept


@dataclass
class ResolvedConfig:
    """A config with every variable substituted and disabled components removed.

    `data` is the resolved JSON; `variables` what `{NAME}` could refer to; `file` names the config in errors
    (a ConfigFile from `load_config`, so that their key paths name each list index as the file has it);
    `mmar_root` is where relative paths live; `search_dirs` where a config's own code is imported from: the
    MMAR's `custom/` and `lib/`, or `code_dirs` when a translated config (an AIAA one) names its own.
    """

    data: dict[str, Any]
    variables: dict[str, Any]
    file: str
    mmar_root: Path | None = None
    global_names: list[str] = field(default_factory=list)
    code_dirs: tuple[Path, ...] | None = None

    @property
    def search_dirs(self) -> tuple[Path, ...]:
        """The folders a `path` in this config is imported from (and a checkpoint's network rebuilt with)."""
        if self.code_dirs is not None:
            return self.code_dirs
        return code_folders(self.mmar_root) if self.mmar_root is not None else ()

    def get(self, name: str, default: Any = None) -> Any:
        """A global variable (`epochs`, `learning_rate`, …) after environment and --set overrides."""
        return self.data.get(name, default)


def locate_config(path: str | Path, mmar_root: Path | None) -> Path:
    """Clara resolves `-c config/config_train.json` (and export's `--model_file_path models`) against the MMAR
    root; fall back to the working folder."""
    path = Path(path)
    if mmar_root is not None and not path.is_absolute() and (mmar_root / path).exists():
        return mmar_root / path
    return path


def load_config(
    config_path: str | Path,
    *,
    environment_path: str | Path | None = None,
    mmar_root: str | Path | None = None,
    overrides: Iterable[Override] = (),
    variables: Mapping[str, Any] | None = None,
) -> ResolvedConfig:
    """Read and resolve a config; every error names the file and key path and exits with code 3.

    Precedence, lowest first: the config's global variables, environment.json, `variables` (set by command-line
    flags such as `-d DATALIST`), then `--set`. Example:
    `load_config("config/config_train.json", environment_path="config/environment.json", mmar_root=".")`.
    """
    root = Path(mmar_root).resolve() if mmar_root is not None else None
    path = locate_config(config_path, root)
    env_file = locate_config(environment_path, root) if environment_path is not None else None
    file = str(config_path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise ConfigError("a config must be a JSON object with global variables and sections", file=file)
    environment = load_environment(env_file, root)
    environment.update(variables or {})
    for name in _global_names(raw):
        if name in environment:
            raw[name] = environment[name]
    for override in overrides:
        _apply(raw, environment, _under_root(override, root), file)
    global_names = _global_names(raw)

    env_file_name = str(environment_path) if environment_path is not None else "environment"
    environment = substitute(environment, environment, file=env_file_name)
    lookup = _resolve_globals({k: raw[k] for k in global_names}, environment, file)
    data = substitute(raw, lookup, file=file)
    positions: Positions = {}
    data = drop_disabled(data, file=file, positions=positions)
    return ResolvedConfig(
        data=data,
        variables=lookup,
        file=ConfigFile(file, positions),
        mmar_root=root,
        global_names=global_names,
    )


def _global_names(raw: dict[str, Any]) -> list[str]:
    """Top-level keys that are neither sections, component slots (a 4.x config's too) nor federated
    orchestration: the config's global variables."""
    slots = {*SLOT_KINDS, *(CLARA4_SLOTS if is_clara4(raw) else ())}
    return [k for k in raw if k not in SECTION_KEYS and k not in slots and k not in FEDERATED_KEYS]


def _resolve_globals(raw_globals: dict[str, Any], environment: dict[str, Any], file: str) -> dict[str, Any]:
    """Variables from globals and environment; a global may refer to another global or to the environment."""
    lookup = {**raw_globals, **environment}
    for _ in range(len(raw_globals) + 1):
        resolved = substitute(raw_globals, lookup, file=file)
        updated = {**resolved, **environment}
        if updated == lookup:
            break
        lookup = updated
    return lookup


def _under_root(override: Override, root: Path | None) -> Override:
    """`--set MMAR_CKPT_DIR=models_b` means the MMAR's models_b, as environment.json's values do, whatever the
    working folder."""
    if len(override.parts) != 1:
        return override
    return Override(override.key, resolve_paths({override.key: override.value}, root)[override.key])


def _apply(raw: dict[str, Any], environment: dict[str, Any], override: Override, file: str) -> None:
    """An override reaches an environment variable, a config key, or both when both have that name. A single
    NAME that the config or environment refers to as `{NAME}`, or that the engines read (MMAR_CKPT_DIR, …),
    becomes a variable: the TLT dialect has no environment.json to define them in."""
    single = len(override.parts) == 1
    in_environment = single and override.key in environment
    if in_environment:
        environment[override.key] = override.value
    if single and override.key not in raw:
        if override.key in ENGINE_GLOBALS:
            raw[override.key] = override.value  # an engine global the config left at its default
            return
        if in_environment:
            return
        if override.key in ENGINE_VARIABLES or override.key in referenced_names([raw, environment]):
            environment[override.key] = override.value
            return
    if override.parts[0] not in raw:
        known = [*raw, *environment, *referenced_names([raw, environment])]
        raise ConfigError(
            f"--set {override.key}: no such global variable, config key, environment variable or "
            f"{{NAME}} used by the config{did_you_mean(override.key, known)}",
            file=file,
        )
    apply_override(raw, override, file=file)


def drop_disabled(
    value: Any, *, file: str, key_path: str = "", loaded_path: str = "", positions: Positions | None = None
) -> Any:
    """Remove every component marked `"disabled": true`, from lists and from named slots alike.

    `key_path` is where `value` stands in the file, `loaded_path` where it stands once loaded; `positions`
    collects, for each list that lost items, the file's index of each item kept (see ConfigFile).
    """
    positions = {} if positions is None else positions
    if isinstance(value, list):
        kept = [i for i, item in enumerate(value) if not _is_disabled(item, file, child(key_path, i))]
        if len(kept) < len(value):
            positions[loaded_path] = tuple(kept)
        return [
            drop_disabled(
                value[index],
                file=file,
                key_path=child(key_path, index),
                loaded_path=child(loaded_path, place),
                positions=positions,
            )
            for place, index in enumerate(kept)
        ]
    if isinstance(value, dict):
        return {
            k: drop_disabled(
                v,
                file=file,
                key_path=child(key_path, k),
                loaded_path=child(loaded_path, k),
                positions=positions,
            )
            for k, v in value.items()
            if not _is_disabled(v, file, child(key_path, k))
        }
    return value


def _is_disabled(item: Any, file: str, key_path: str) -> bool:
    if not isinstance(item, dict) or DISABLED not in item:
        return False
    flag = item[DISABLED]
    if not isinstance(flag, bool):
        raise ConfigError(
            f"'{DISABLED}' must be true or false, not {flag!r}", file=file, key_path=child(key_path, DISABLED)
        )
    return flag
