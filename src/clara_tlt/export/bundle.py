"""`export_bundle`: a trained checkpoint and its validation config → a MONAI bundle (Model Zoo layout).

    DIR/configs/inference.json   the validation config in MONAI components (clara_tlt.export.bundle_table)
    DIR/configs/metadata.json    versions, task, network_data_format (inputs, outputs, label names)
    DIR/configs/logging.conf     the Model Zoo's logging setup
    DIR/models/model.pt          the network's weights (a state dict)
    DIR/models/model.ts          TorchScript, when the network is not a MONAI class (see below)
    DIR/docs/README.md           where it came from: the MMAR, its config, the checkpoint, the date

A network that is a MONAI class (`UNet`, `SegResNet`, … as a config names them) goes into `inference.json` as
its `_target_` and arguments, its weights loaded from `model.pt`. Our own networks (Clara's `SegAhnet`,
`DenseNet121` with their final activation, the TensorFlow-era topologies, a config's own `path`) are traced
to TorchScript and loaded with `torch.jit.load`: the bundle then needs no clara_tlt, and the traced graph is
checked against PyTorch like every other export. Everything is written into a temporary folder beside DIR,
verified (clara_tlt.export.bundle_verify), and renamed into place only when it passed.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from clara_tlt import __version__
from clara_tlt.atomic import write_failure
from clara_tlt.config.clara4 import is_clara4
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.engines.checkpoint import ConfigNetwork, model_spec_of, network_from_checkpoint, network_inject
from clara_tlt.errors import ConfigError, UsageError
from clara_tlt.export import bundle_clara4
from clara_tlt.export.bundle_config import (
    LOGGING_CONF,
    MODEL_PT,
    MODEL_TS,
    NetworkFacts,
    Translation,
    inference_config,
    metadata,
    torchscript_network_def,
    translate,
)
from clara_tlt.export.bundle_readme import readme
from clara_tlt.export.bundle_verify import verify_bundle
from clara_tlt.export.shapes import export_shape
from clara_tlt.export.torchscript import TorchScriptExporter
from clara_tlt.export.verify import TOLERANCE, check, reference_cases

VERIFY_GROWTH = 1.5  # the synthetic volume's size, in windows: several windows overlap on every axis


def export_bundle(
    checkpoint: Path,
    config: ResolvedConfig,
    target: Path,
    *,
    model_spec: ConfigNetwork | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Write the bundle of `checkpoint` (a `model.pt`) predicting as `config` (a resolved validation config)
    does, into `target`; returns the summary. `model_spec`: the network, when not the checkpoint's own.

    Example: `export_bundle(Path("models/model.pt"), load_config("config/config_validation.json"), Path("b"))`.
    """
    clara4 = is_clara4(config.data)  # its MONAI components pass through (bundle_clara4)
    model_spec = model_spec or (bundle_clara4.network_spec(config) if clara4 else None)
    network, saved = network_from_checkpoint(
        checkpoint, model_spec=model_spec, search_dirs=config.search_dirs
    )
    spec = model_spec.spec if model_spec is not None else model_spec_of(saved.get("train_conf")) or {}
    facts = _network_facts(network, spec, config, saved.get("train_conf") or {})
    translation = (bundle_clara4.translate if clara4 else translate)(
        config.data, file=config.file, out_channels=facts.out_channels
    )
    name = (config.mmar_root or checkpoint.resolve().parent.parent).resolve().name  # the MMAR's folder
    staging = _staging_folder(target, inputs=(checkpoint, Path(config.file)))
    try:
        checks = _stage(staging, network, facts, translation, config, checkpoint, name=name, verify=verify)
        _replace(staging, target)
    except Exception as exc:  # a full disk, a quota: the bundle's folder named, as every other write does
        error = write_failure(target, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "bundle": str(target),
        "checkpoint": str(checkpoint),
        "config": config.file,
        "network": "TorchScript (models/model.ts)" if facts.torchscript else facts.network_def["_target_"],  # type: ignore[index]
        "components": [{"clara": c, "monai": m} for c, m in translation.components],
        "left_out": translation.left_out,
        "checks": checks,
        "verified": verify,
    }


def _stage(
    staging: Path,
    network: nn.Module,
    facts: NetworkFacts,
    translation: Translation,
    config: ResolvedConfig,
    checkpoint: Path,
    *,
    name: str,
    verify: bool,
) -> list[Any]:
    """Write the bundle into `staging` and, with `verify`, run it under MONAI against our predictor; returns
    the checks made (none without `verify`)."""
    described = f"{name}: exported from {checkpoint} and {config.file} by clara_tlt {__version__}"
    _write(staging, network, facts, translation, name=name, description=described)
    (staging / "docs").mkdir()
    (staging / "docs" / "README.md").write_text(
        readme(translation, facts, checkpoint=checkpoint.resolve(), config=config, when=_now()),
        encoding="utf-8",
    )
    if not verify:
        return []
    fields = [str(s["output_postfix"]) for s in translation.postprocessing if s["_target_"] == "SaveImaged"]
    shape = tuple(max(8, round(size * VERIFY_GROWTH)) for size in facts.roi)
    check = bundle_clara4.verify if is_clara4(config.data) else verify_bundle
    return check(staging, config, checkpoint=checkpoint, fields=fields, shape=shape)


def _network_facts(
    network: nn.Module, spec: dict[str, Any], config: ResolvedConfig, train_conf: dict[str, Any]
) -> NetworkFacts:
    """Channels, window and the `network_def` entry: a MONAI class by `_target_`, anything else TorchScript."""
    inferer = _prediction_body(config.data).get("inferer") or {}
    roi = (inferer.get("args") or {}).get("roi_size") if isinstance(inferer, dict) else None
    sized = {"validate": {"inferer": {"args": {"roi_size": roi}}}} if roi else train_conf
    shape = export_shape(network, sized, dynamic=False, max_batch_size=1)
    if shape.channels_last or len(shape.spatial) != 3:
        raise ConfigError(
            "bundle export writes 3-D channel-first segmentation bundles; this network takes "
            f"{'channels-last ' if shape.channels_last else ''}{len(shape.spatial)}-D input",
            file=config.file,
        )
    with torch.no_grad():
        out_channels = int(network(shape.example()).shape[1])
    cls = type(network)
    monai_class = (
        spec.get("name") == cls.__name__
        and cls.__module__.startswith("monai.networks.nets")
        and "path" not in spec
    )
    network_def: dict[str, Any] | str = torchscript_network_def()
    if (
        monai_class
    ):  # built as our factory built it: the spec's args, and what it injects where the class takes it
        takes = inspect.signature(cls).parameters
        injected = {k: v for k, v in network_inject(train_conf).items() if k in takes}
        network_def = {
            "_target_": f"monai.networks.nets.{cls.__name__}",
            **injected,
            **(spec.get("args") or {}),
        }
    return NetworkFacts(network_def, shape.channels, out_channels, list(shape.spatial))


def _prediction_body(data: dict[str, Any]) -> dict[str, Any]:
    return data if "pre_transforms" in data else data.get("validate") or {}


def _write(
    staging: Path,
    network: nn.Module,
    facts: NetworkFacts,
    translation: Translation,
    *,
    name: str,
    description: str,
) -> None:
    """models/model.pt (and model.ts, traced and checked against PyTorch), configs/*.json."""
    (staging / "models").mkdir()
    (staging / "configs").mkdir()
    torch.save(network.state_dict(), staging / MODEL_PT)
    if facts.torchscript:
        exporter = TorchScriptExporter()
        example = torch.rand(1, facts.in_channels, *facts.roi)
        exporter.export(network, example, staging / MODEL_TS)
        runner = exporter.load(staging / MODEL_TS)
        for case in reference_cases(network, [tuple(example.shape)]):
            result = check(runner, case, tolerance=TOLERANCE["FP32"])
            if not result.passed:
                raise ConfigError(
                    f"the network's TorchScript trace differs from PyTorch by {result.max_rel:.3g} of the output's "
                    "range (shape-dependent code?); it cannot go into a bundle; nothing was written"
                )
    for file, content in (
        ("inference.json", inference_config(translation, facts)),
        ("metadata.json", metadata(translation, facts, name=name, description=description)),
    ):
        (staging / "configs" / file).write_text(json.dumps(content, indent=4) + "\n", encoding="utf-8")
    (staging / "configs" / "logging.conf").write_text(LOGGING_CONF, encoding="utf-8")


def _staging_folder(target: Path, *, inputs: tuple[Path, ...]) -> Path:
    """An empty temporary folder beside `target` (same file system: the final rename is atomic); `target`
    may not hold the export's `inputs` (an older bundle there is replaced, files and all)."""
    if target.exists() and not target.is_dir():
        raise UsageError(f"--bundle {target}: a file is in the way; give a folder")
    for used in inputs:
        if target.resolve() in used.resolve().parents:
            raise UsageError(
                f"--bundle {target}: holds {used}, which this export reads, and the bundle replaces the "
                f"folder; nothing was written. Give a folder outside it, e.g. --bundle "
                f"{target.parent / (target.name + '_bundle')}"
            )
    if target.is_dir() and any(target.iterdir()) and not (target / "configs" / "metadata.json").is_file():
        raise UsageError(
            f"--bundle {target}: the folder holds files but no bundle; give an empty or new folder, or a bundle "
            "to replace"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".incomplete", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the bundle gets the mode mkdir would give
    return staging


def _replace(staging: Path, target: Path) -> None:
    """Rename the verified bundle into place; an older bundle there is moved aside first, then removed."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "bundle")
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
