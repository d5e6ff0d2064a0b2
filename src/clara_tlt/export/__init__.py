"""Export a trained model: TorchScript, ONNX, TensorRT (optional), a Triton model repository.

Each exporter follows `protocol.Exporter`; `export_model` writes every artefact atomically, loads it back
(with `clara_tlt.formats`, the loaders infer uses) and compares it with PyTorch before calling it done.
`export_model` is imported on first use, so the command line can read `export.options` without importing
torch. Layer: above engines and the catalogue (formats among it), below cli.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clara_tlt.export.options import ExportOptions, TensorNames

if TYPE_CHECKING:
    from clara_tlt.export.model import export_model

__all__ = ["ExportOptions", "TensorNames", "export_model"]


def __getattr__(name: str) -> Any:
    if name == "export_model":
        from clara_tlt.export.model import export_model

        return export_model
    raise AttributeError(f"module 'clara_tlt.export' has no attribute {name!r}")
