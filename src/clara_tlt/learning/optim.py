"""Clara optimizer and learning-rate policy names mapped onto torch, with Clara's argument names.

Optimizers receive the network parameters and the global `learning_rate` from the workflow. Clara's lr policies
act on the global step: the trainer steps them once per iteration. Policies that count epochs (`ReduceCosine`)
also receive the global `epochs` and the training pipeline's `steps_per_epoch` from the workflow.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any, TypedDict

import torch
from monai.optimizers import Novograd
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau, StepLR

from clara_tlt.errors import ConfigError
from clara_tlt.factory.arguments import forwards
from clara_tlt.factory.registry import register

Params = Iterable[torch.nn.Parameter]
log = logging.getLogger(__name__)
# (optimizer, argument) pairs already named in the log as TensorFlow-only: each is said once per process.
_said_no_effect: set[tuple[str, str]] = set()


def tensorflow_only(optimizer: str, use_locking: bool, name: str | None) -> None:
    """Name once in the log the TensorFlow-only arguments a config gave: `use_locking` (a lock against
    concurrent updates; a torch step is never concurrent) and `name` (a graph op name; torch has no graph)."""
    given = [arg for arg, value in (("use_locking", use_locking), ("name", name)) if value]
    for arg in given:
        if (optimizer, arg) not in _said_no_effect:
            _said_no_effect.add((optimizer, arg))
            log.info("%s: %s only reached TensorFlow; it is accepted and has no effect here", optimizer, arg)


class TorchArguments(TypedDict):
    """What every torch optimizer takes of Clara's shared arguments."""

    lr: float
    weight_decay: float


def torch_arguments(
    optimizer: str,
    *,
    lr: float = 1e-3,
    learning_rate: float | None = None,
    weight_decay: float = 0.0,
    use_locking: bool = False,
    name: str | None = None,
) -> TorchArguments:
    """Clara's arguments every optimizer takes (each forwards them here), as torch's `lr` and `weight_decay`.

    `learning_rate` (Clara) and `lr` (torch) mean the same; Clara's wins when given (0 included). Clara 3.x
    passed `use_locking` and `name` on to TensorFlow (a lock against concurrent updates, a graph op name): a
    torch optimizer's updates are never concurrent and it has no graph, so both are accepted and named once
    in the log.
    """
    tensorflow_only(optimizer, use_locking, name)
    return {"lr": float(lr if learning_rate is None else learning_rate), "weight_decay": weight_decay}


@register("optimizer", "Adam", built_on="torch.optim.Adam")
@forwards(torch_arguments)
def adam(
    params: Params, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, **clara: Any
) -> torch.optim.Optimizer:
    """Adam; `epsilon` is torch's `eps`; `lr`, `learning_rate`, `weight_decay`, `use_locking`, `name`: see
    `torch_arguments`."""
    betas = (float(beta1), float(beta2))
    return torch.optim.Adam(params, betas=betas, eps=epsilon, **torch_arguments("Adam", **clara))


@register("optimizer", "Momentum", built_on="torch.optim.SGD")
@forwards(torch_arguments)
def momentum(
    params: Params,
    momentum: float = 0.9,
    use_nesterov: bool = False,
    nesterov: bool | None = None,
    **clara: Any,
) -> torch.optim.Optimizer:
    """SGD with momentum (TensorFlow's MomentumOptimizer), Nesterov when `use_nesterov` (Clara 3.x) or
    `nesterov` (torch's spelling, Clara 4.x); both given must agree. The rest: see `torch_arguments`."""
    arguments = torch_arguments("Momentum", **clara)
    if nesterov is not None and use_nesterov and not nesterov:
        raise ConfigError("use_nesterov true and nesterov false disagree; give one of them")
    return torch.optim.SGD(params, momentum=momentum, nesterov=bool(use_nesterov or nesterov), **arguments)


@register("lr_policy", "DecayOnStep", aliases=("DecayLRonStep",), built_on="torch.optim.lr_scheduler.StepLR")
def decay_on_step(
    optimizer: torch.optim.Optimizer, decay_ratio: float = 0.1, decay_freq: int = 50000
) -> StepLR:
    """Multiply the learning rate by `decay_ratio` every `decay_freq` iterations."""
    return StepLR(optimizer, step_size=decay_freq, gamma=decay_ratio)


@register("lr_policy", "ReducePoly", built_on="torch.optim.lr_scheduler.LambdaLR")
def reduce_poly(
    optimizer: torch.optim.Optimizer, poly_power: float = 0.9, total_steps: int = 100000
) -> LambdaLR:
    """Polynomial decay to zero over `total_steps` iterations: lr · (1 − step/total)^power."""
    return LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps) ** poly_power)


@register("optimizer", "NovoGrad", built_on="monai.optimizers.Novograd")
@forwards(torch_arguments)
def novograd(
    params: Params,
    beta1: float = 0.95,
    beta2: float = 0.98,
    epsilon: float = 1e-8,
    grad_averaging: bool = False,
    **clara: Any,
) -> torch.optim.Optimizer:
    """NovoGrad (layer-wise normalised gradients), Clara's defaults β = (0.95, 0.98). The rest: see
    `torch_arguments` (Clara 3.1's NovoGrad documents `use_locking` and `name`; they only reached TensorFlow)."""
    betas = (float(beta1), float(beta2))
    arguments = torch_arguments("NovoGrad", **clara)
    return Novograd(params, betas=betas, eps=epsilon, grad_averaging=grad_averaging, **arguments)


@register("lr_policy", "ReduceCosine", built_on="torch.optim.lr_scheduler.LambdaLR")
def reduce_cosine(
    optimizer: torch.optim.Optimizer, rate: float = 0.5, epochs: int = 1, steps_per_epoch: int = 1
) -> LambdaLR:
    """Cosine decay by epoch: lr · rate · (1 + cos(π · epoch / epochs)), so 0.5 goes from lr to 0.

    Stepped once per iteration like every Clara policy; `epochs` (the global) and `steps_per_epoch` (the
    training pipeline's batches) come from the workflow.
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ConfigError(
            f"ReduceCosine needs epochs and steps_per_epoch of at least 1, got {epochs}, {steps_per_epoch}"
        )
    return LambdaLR(
        optimizer, lambda step: rate * (1 + math.cos(math.pi * min(step // steps_per_epoch, epochs) / epochs))
    )


@register("lr_policy", "ReduceOnPlateau", built_on="torch.optim.lr_scheduler.ReduceLROnPlateau")
class ReduceOnPlateau:
    """Multiply the learning rate by `reduction_rate` once the key validation metric (higher is better) has
    not improved `plateau_count_trigger` validations in a row.

    The trainer calls `step(metric)` after each validation (`steps_on_metric`), not once per iteration.
    """

    steps_on_metric = True

    def __init__(
        self, optimizer: torch.optim.Optimizer, plateau_count_trigger: int = 10, reduction_rate: float = 0.1
    ) -> None:
        if not 0 < reduction_rate < 1:
            raise ConfigError(f"reduction_rate must be between 0 and 1, got {reduction_rate}")
        self.scheduler = ReduceLROnPlateau(
            optimizer, mode="max", factor=reduction_rate, patience=plateau_count_trigger
        )

    def step(self, metric: float) -> None:
        self.scheduler.step(metric)

    def state_dict(self) -> dict[str, object]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.scheduler.load_state_dict(state)
