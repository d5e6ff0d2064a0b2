"""Read an AIAA model config (seed 000, `config_aiaa.json`) and say which of its types run here.

The file is read with the Clara config grammar (`{VAR}` substitution, `disabled`), so `version`, `type`,
`labels` and `description` are its globals and `pre_transforms`, `inference`, `post_transforms`, `writer` its
sections. Runs: `segmentation`, `annotation` (extreme points as an extra input channel) and `others`
(typically a bring-your-own inference). Refused with the reason: `classification`, `deepgrow`, `pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_tlt.aiaa.api import ModelConfig
from clara_tlt.config import load_config
from clara_tlt.config.mmar import code_folders
from clara_tlt.config.suggest import did_you_mean
from clara_tlt.errors import ConfigError

RUNNABLE_TYPES = ("segmentation", "annotation", "others")
REFUSED_TYPES = {
    "classification": "AIAA classification models answer with scores, not a volume; run them with "
    "`clara-tlt infer` and a validation config",
    "deepgrow": "deepgrow models need interactive foreground/background clicks from an AIAA client",
    "pipeline": "pipeline models chain other AIAA models on a server",
}
VERSIONS = ("2", "3")
DEFAULT_NODES = {"NV_MODEL_INPUT": "image", "NV_MODEL_OUTPUT": "model"}


@dataclass
class AiaaConfig:
    """A resolved AIAA config: the public `ModelConfig`, the file, and the folders custom code lives in."""

    model_config: ModelConfig
    file: Path
    search_dirs: tuple[Path, ...]

    @property
    def data(self) -> dict[str, Any]:
        return self.model_config.config

    @property
    def inference(self) -> dict[str, Any]:
        return self.model_config.get_inference()


def is_aiaa_config(data: Mapping[str, Any]) -> bool:
    """An AIAA config has an `inference` section and a model `type` (validation configs have neither)."""
    return isinstance(data.get("inference"), dict) and "type" in data


def load_aiaa_config(path: str | Path, *, model_path: str | Path | None = None) -> AiaaConfig:
    """Read and check `config_aiaa.json` (ConfigError, exit 3, naming the key for anything it cannot run)."""
    path = Path(path)
    resolved = load_config(path)
    data = resolved.data
    file = resolved.file
    if str(data.get("version", "3")) not in VERSIONS:
        raise ConfigError(f"AIAA config version must be 2 or 3, not {data.get('version')!r}", file=file)
    kind = str(data.get("type", ""))
    if kind in REFUSED_TYPES:
        raise ConfigError(
            f"type '{kind}' is not run by clara-tlt: {REFUSED_TYPES[kind]}. Types that run: "
            + ", ".join(RUNNABLE_TYPES),
            file=file,
            key_path="type",
        )
    if kind not in RUNNABLE_TYPES:
        hint = did_you_mean(kind, [*RUNNABLE_TYPES, *REFUSED_TYPES])
        raise ConfigError(
            f"unknown model type '{kind}'{hint or '.'} Types that run: {', '.join(RUNNABLE_TYPES)}",
            file=file,
            key_path="type",
        )
    if not isinstance(data.get("inference"), dict):
        raise ConfigError('an AIAA config needs an "inference" section', file=file)
    _check_node_mapping(data["inference"], file)
    folder = path.resolve().parent
    candidates = (folder / "lib", *code_folders(folder.parent))  # the config folder's lib/, then the MMAR's
    return AiaaConfig(
        model_config=ModelConfig(data, model_path=model_path, file=file),
        file=path,
        search_dirs=tuple(c for c in candidates if c.is_dir()),
    )


def _check_node_mapping(inference: Mapping[str, Any], file: str) -> None:
    """The engine feeds field `image` and stores the output in `model`: other mappings are refused, not ignored."""
    field = inference.get("image", "image")
    mapping = inference.get("node_mapping") or DEFAULT_NODES
    fields = sorted(set(mapping.values()) | {field})
    if fields != ["image", "model"]:
        raise ConfigError(
            f"node_mapping/image name the fields {fields}; clara-tlt feeds 'image' and writes 'model'",
            file=file,
            key_path="inference.node_mapping",
        )
