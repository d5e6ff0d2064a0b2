"""`docs/README.md` of an exported bundle: where it came from, how to run it, what each Clara component became."""

from __future__ import annotations

from pathlib import Path

from clara_tlt import __version__
from clara_tlt.config.loader import ResolvedConfig
from clara_tlt.export.bundle_config import MODEL_TS, NetworkFacts, Translation


def readme(
    translation: Translation, network: NetworkFacts, *, checkpoint: Path, config: ResolvedConfig, when: str
) -> str:
    """The bundle's README: origin (MMAR checkpoint, config, date, exporter), the run command, the table."""
    if network.torchscript:
        kind = (
            f"TorchScript (`{MODEL_TS}`, loaded with `torch.jit.load`); `models/model.pt` holds its weights"
        )
    else:
        kind = f"`{network.network_def['_target_']}` (`network_def`), weights from `models/model.pt`"  # type: ignore[index]
    rows = [f"| `{clara}` | `{monai}` |" for clara, monai in translation.components]
    left_out = ", ".join(f"`{k}`" for k in translation.left_out) or "nothing"
    return "\n".join(
        [
            "# Exported from a Clara Train MMAR",
            "",
            f"- MMAR: `{config.mmar_root.resolve() if config.mmar_root else '(none: tlt-export)'}`",
            f"- checkpoint: `{checkpoint}`",
            f"- inference config: `{config.file}`",
            f"- exported: {when}, by clara_tlt {__version__}",
            f"- network: {kind}",
            "",
            "This bundle needs MONAI (with nibabel and pytorch-ignite), not clara_tlt. Segment every `*.nii.gz` and "
            "`*.nii` in a folder:",
            "",
            "```",
            "python -m monai.bundle run --config_file BUNDLE/configs/inference.json \\",
            "  --meta_file BUNDLE/configs/metadata.json --bundle_root BUNDLE --dataset_dir IN --output_dir OUT",
            "```",
            "",
            "Each case is written as `OUT/<case>/<case>_<field>.nii.gz`, as `clara-tlt infer` writes it. The export "
            "ran this config on a synthetic volume and compared it with clara_tlt's own inference before it "
            "finished.",
            "",
            "## What each Clara component became",
            "",
            "| Clara | MONAI |",
            "| --- | --- |",
            *rows,
            "",
            f"Left out (they score against labels or load the model, which the bundle does itself): {left_out}.",
            "",
        ]
    )
