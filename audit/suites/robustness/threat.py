"""The threat model: which input columns an attacker may move, how far, and within which bounds.

Attacks work in "attack units" u = x / scale. For tabular data the scale is each column's standard
deviation, so an ε of 0.1 means "a tenth of a standard deviation" on every mutable numeric column; for
images the scale is 1 (pixel units). Every adversarial point any attack returns goes through
`ThreatSpace.project`, so the constraints are enforced in exactly one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from audit.data.types import Dataset, FeatureSpec

NORMS = ("linf", "l2")


@dataclass(frozen=True)
class CategoricalGroup:
    """A one-hot feature an attacker may switch to another category."""

    name: str
    columns: tuple[int, ...]


@dataclass(frozen=True)
class ThreatSpace:
    """Tensors are shaped (1, *input_shape) so they broadcast over a batch."""

    scale: torch.Tensor  # x = u * scale
    mask: torch.Tensor  # 1 where the attacker may move the (continuous) input
    u_lo: torch.Tensor  # bounds in attack units
    u_hi: torch.Tensor
    categorical: tuple[CategoricalGroup, ...] = ()
    immutable_columns: tuple[int, ...] = ()

    def to_u(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale.to(x.device)

    def to_x(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale.to(u.device)

    def project(self, u0: torch.Tensor, u_adv: torch.Tensor, eps: float | torch.Tensor, norm: str) -> torch.Tensor:
        """Nearest admissible point: masked, inside the ε-ball around u0, inside the observed bounds.

        `eps` is one radius, or a tensor of per-row radii shaped (batch, 1, ..., 1).
        """
        mask, lo, hi = (t.to(u0.device) for t in (self.mask, self.u_lo, self.u_hi))
        delta = (u_adv - u0) * mask
        if norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:
            norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (delta.dim() - 1)))
            delta = delta * (eps / norms).clamp(max=1.0)
        return torch.maximum(torch.minimum(u0 + delta, hi), lo)

    def unconstrained(self) -> ThreatSpace:
        """Every column movable and no bounds beyond the data type's (used by the large-ε check)."""
        big = torch.full_like(self.u_lo, 1e6)
        is_image = bool((self.scale == 1).all() and (self.u_lo == 0).all() and (self.u_hi == 1).all())
        lo, hi = (self.u_lo, self.u_hi) if is_image else (-big, big)
        return ThreatSpace(self.scale, torch.ones_like(self.mask), lo, hi)


class LogitView(nn.Module):
    """The audited model seen from attack units, returning logits (log-probabilities if it emits probabilities)."""

    def __init__(self, module: nn.Module, scale: torch.Tensor, outputs_probabilities: bool):
        super().__init__()
        self.module = module
        self.register_buffer("scale", scale.clone())
        self.outputs_probabilities = outputs_probabilities

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        out = self.module(u * self.scale)
        return torch.log(out.clamp_min(1e-30)) if self.outputs_probabilities else out


def immutable_names(data: Dataset, configured: Iterable[str]) -> frozenset[str]:
    """Features never perturbed: declared immutable, sensitive, or named in the configuration."""
    wanted = {name.lower() for name in configured}
    return frozenset(
        spec.name for spec in data.features if not spec.mutable or spec.sensitive or spec.name.lower() in wanted
    )


def tabular_space(data: Dataset, configured_immutable: Iterable[str]) -> ThreatSpace:
    """Mutable numeric columns move in std units within the observed range; one-hots via discrete search."""
    x_all = data.test.x if data.train is None else torch.cat([data.train.x, data.test.x])
    d = x_all.shape[1]
    std = x_all.std(dim=0)
    specs = data.features or tuple(FeatureSpec(n, "numeric", (i,)) for i, n in enumerate(data.feature_names))
    frozen = immutable_names(data, configured_immutable)
    scale, mask = torch.ones(d), torch.zeros(d)
    groups: list[CategoricalGroup] = []
    immutable_cols: list[int] = []
    for spec in specs:
        if spec.name in frozen:
            immutable_cols += list(spec.columns)
        elif spec.kind == "numeric":
            for col in spec.columns:
                scale[col] = std[col] if std[col] > 0 else 1.0
                mask[col] = 1.0
        elif len(spec.columns) > 1:
            groups.append(CategoricalGroup(spec.name, spec.columns))
    lo, hi = x_all.min(dim=0).values / scale, x_all.max(dim=0).values / scale
    return ThreatSpace(
        scale=scale.unsqueeze(0), mask=mask.unsqueeze(0), u_lo=lo.unsqueeze(0), u_hi=hi.unsqueeze(0),
        categorical=tuple(groups), immutable_columns=tuple(sorted(immutable_cols)),
    )


def input_space(input_shape: tuple[int, ...], mask: torch.Tensor | None = None,
                bounds: tuple[float, float] | None = None) -> ThreatSpace:
    """Attacks in the input's own units: `mask` (any shape with the input's size) is 1 where a value may move
    (everywhere when None), and every value stays within `bounds` (unbounded when None)."""
    ones = torch.ones(1, *input_shape)
    movable = ones.clone() if mask is None else mask.reshape(1, *input_shape).to(ones.dtype)
    lo, hi = bounds if bounds is not None else (-float("inf"), float("inf"))
    return ThreatSpace(scale=ones, mask=movable, u_lo=torch.full_like(ones, lo), u_hi=torch.full_like(ones, hi))


def image_space(input_shape: tuple[int, ...]) -> ThreatSpace:
    return input_space(input_shape, bounds=(0.0, 1.0))


def build_space(data: Dataset, configured_immutable: Iterable[str]) -> ThreatSpace:
    if data.input_kind == "image":
        return image_space(data.input_shape)
    return tabular_space(data, configured_immutable)
