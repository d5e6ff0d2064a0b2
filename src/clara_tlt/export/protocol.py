"""The one protocol every exporter follows: `export(network, example, path)` writes, `load(path)` runs.

`load` returns a runner: a float32 array `(N, …)` in, the model's output array out, so verification compares
every format with PyTorch the same way. Exporters read their files back with `clara_tlt.formats`, the loaders
`infer` uses, wrapped by `runner_of`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

Runner = Callable[[np.ndarray], np.ndarray]


class Exporter(Protocol):
    """An artefact format: `name` in reports, `suffix` of its file."""

    name: str
    suffix: str

    def export(self, network: nn.Module, example: torch.Tensor, path: Path) -> None:
        """Write `network`, traced on `example` `(1, …)`, to `path`."""
        ...

    def load(self, path: Path) -> Runner:
        """A runner of the file at `path`."""
        ...


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep exporter chatter (tracer warnings, deprecation notices, progress prints) off the console.

    Real failures still raise; only warnings, prints and library log records below ERROR are dropped.
    """
    sink = io.StringIO()
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_log.setLevel(level)


def runner_of(network: Callable[[torch.Tensor], torch.Tensor]) -> Runner:
    """A runner of a loaded model: the array becomes a CPU tensor, the output comes back as an array."""

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(x)).numpy()

    return run
