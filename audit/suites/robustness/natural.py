"""Natural (non-adversarial) corruptions: Gaussian noise, and for images blur and brightness shifts.

Noise on tabular data touches only the mutable numeric columns, in standard deviations, clipped to the
observed range (the same threat space the attacks use).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.suites.robustness.threat import ThreatSpace


@dataclass(frozen=True)
class Corruption:
    kind: str  # "noise" | "blur" | "brightness"
    level: float

    @property
    def label(self) -> str:
        key = {"noise": "sigma", "blur": "sigma", "brightness": "delta"}[self.kind]
        return f"{self.kind},{key}={self.level:g}"


def default_corruptions(input_kind: str, sigmas: tuple[float, ...]) -> tuple[Corruption, ...]:
    if input_kind == "image":
        noise = sigmas or (0.05, 0.1, 0.2, 0.3)
        return (
            tuple(Corruption("noise", s) for s in noise)
            + tuple(Corruption("blur", s) for s in (0.5, 1.0, 1.5))
            + tuple(Corruption("brightness", d) for d in (-0.2, 0.2, 0.4))
        )
    return tuple(Corruption("noise", s) for s in (sigmas or (0.05, 0.1, 0.25, 0.5)))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    coords = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k1 = torch.exp(-(coords**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    return torch.outer(k1, k1)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur applied per channel, with edge padding by reflection."""
    kernel = _gaussian_kernel(sigma).to(images)
    channels = images.shape[1]
    pad = kernel.shape[-1] // 2
    weight = kernel.expand(channels, 1, *kernel.shape).contiguous()
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect")
    return torch.nn.functional.conv2d(padded, weight, groups=channels)


def corrupt(u: torch.Tensor, c: Corruption, space: ThreatSpace, gen: torch.Generator) -> torch.Tensor:
    """The corrupted inputs, in attack units, clipped to the data's bounds."""
    mask = space.mask.to(u.device)
    if c.kind == "noise":
        out = u + c.level * torch.randn(u.shape, generator=gen).to(u) * mask
    elif c.kind == "blur":
        out = blur(u, c.level)
    elif c.kind == "brightness":
        out = u + c.level
    else:
        raise ValueError(f"unknown corruption {c.kind!r}")
    return torch.maximum(torch.minimum(out, space.u_hi.to(u.device)), space.u_lo.to(u.device))
