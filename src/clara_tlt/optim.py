"""Clara optimizer and learning-rate policy names mapped onto torch, with Clara's argument names.

Optimizers receive the network parameters and the global `learning_rate` from the workflow. Clara's lr policies
act on the global step: the trainer steps them once per iteration.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, StepLR

from clara_tlt.components import register

Params = Iterable[torch.nn.Parameter]


def pick_rate(learning_rate: float | None, lr: float) -> float:
    """Clara's `learning_rate` when given (0 included: `learning_rate: 0` is kept), else torch's `lr`."""
    return float(lr if learning_rate is None else learning_rate)


@register("optimizer", "Adam")
def adam(
    params: Params,
    lr: float = 1e-3,
    learning_rate: float | None = None,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Adam; `learning_rate` (Clara) and `lr` (torch) mean the same, `epsilon` is torch's `eps`."""
    return torch.optim.Adam(
        params,
        lr=pick_rate(learning_rate, lr),
        betas=(float(beta1), float(beta2)),
        eps=epsilon,
        weight_decay=weight_decay,
    )


@register("optimizer", "Momentum")
def momentum(
    params: Params,
    lr: float = 1e-3,
    learning_rate: float | None = None,
    momentum: float = 0.9,
    use_nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """SGD with momentum (TensorFlow's MomentumOptimizer), Nesterov when `use_nesterov`."""
    return torch.optim.SGD(
        params,
        lr=pick_rate(learning_rate, lr),
        momentum=momentum,
        nesterov=use_nesterov,
        weight_decay=weight_decay,
    )


@register("lr_policy", "DecayOnStep", aliases=("DecayLRonStep",))
def decay_on_step(
    optimizer: torch.optim.Optimizer, decay_ratio: float = 0.1, decay_freq: int = 50000
) -> StepLR:
    """Multiply the learning rate by `decay_ratio` every `decay_freq` iterations."""
    return StepLR(optimizer, step_size=decay_freq, gamma=decay_ratio)


@register("lr_policy", "ReducePoly")
def reduce_poly(
    optimizer: torch.optim.Optimizer, poly_power: float = 0.9, total_steps: int = 100000
) -> LambdaLR:
    """Polynomial decay to zero over `total_steps` iterations: lr · (1 − step/total)^power."""
    return LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps) ** poly_power)
