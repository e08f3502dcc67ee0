"""A trained variant of the audited model: the original, or the model a remedy produced."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from audit.types import JSONValue

ORIGINAL = "original"


@dataclass(frozen=True, eq=False)
class TrainedVariant:
    """`module` maps the audited inputs to logits (or probabilities, if `outputs` says so)."""

    name: str  # "original" or a remedy's name
    module: nn.Module
    how: str  # method and settings, in words, for the reviewer
    training_s: float  # wall-clock seconds of training (NaN for the original: it was not retrained here)
    trainable_parameters: int
    parameters: int
    outputs: str = "logits"
    details: Mapping[str, JSONValue] = field(default_factory=dict)


class RemedySkipped(Exception):
    """A remedy that cannot apply to this model (the reason goes in the scorecard's notes)."""


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def timed(train: Callable[[], nn.Module]) -> tuple[nn.Module, float]:
    """The trained module and the seconds training took."""
    started = time.perf_counter()
    module = train()
    return module, time.perf_counter() - started


def logits_of(module: nn.Module, x: torch.Tensor, outputs: str) -> torch.Tensor:
    """Logits from a module emitting logits or probabilities (log-probabilities serve as logits)."""
    out = module(x)
    return torch.log(out.clamp_min(1e-30)) if outputs == "probabilities" else out
