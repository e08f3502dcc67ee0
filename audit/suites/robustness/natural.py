"""Natural (non-adversarial) corruptions: Gaussian noise, and for images blur and brightness shifts.

Noise on tabular data touches only the mutable numeric columns, in standard deviations, clipped to the
observed range (the same threat space the attacks use).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.stats import bootstrap_mean_ci, derive_seed
from audit.suites.robustness.findings import Findings
from audit.suites.robustness.report import share_measurement
from audit.suites.robustness.sweep import AttackSetup
from audit.suites.robustness.threat import ThreatSpace
from audit.types import Chart, Measurement, Series


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


def natural_findings(setup: AttackSetup, seed: int, f: Findings) -> None:
    """Accuracy under each corruption, the drop from clean accuracy (paired bootstrap CI), and a chart."""
    clean = setup.clean_correct
    curves: dict[str, list[tuple[float, float]]] = {}
    corruptions = default_corruptions("image" if setup.is_image else "tabular", setup.params.noise_sigmas)
    for salt, c in enumerate(corruptions):
        corrupted = corrupt(setup.u, c, setup.space, torch.Generator().manual_seed(derive_seed(seed, 100 + salt)))
        correct = setup.predict(corrupted) == setup.y.numpy()
        details = {"corruption": c.kind, "level": c.level, "seed": seed}
        f.measurements.append(share_measurement(
            f"accuracy_under_corruption[{c.label}]", correct,
            f"Share of audited rows classified correctly after {_describe(c, setup.is_image)}.", details))
        drop = clean.astype(float) - correct.astype(float)
        f.measurements.append(Measurement(
            name=f"accuracy_drop[{c.label}]", value=float(drop.mean()), ci=bootstrap_mean_ci(drop, 1000, seed + salt),
            higher_is_better=False, n=int(drop.size),
            description=f"Clean accuracy minus accuracy after {_describe(c, setup.is_image)}.",
            details={**details, "resamples": 1000}))
        curves.setdefault(c.kind, []).append((c.level, float(correct.mean())))
    f.charts.append(Chart(
        id="natural_corruptions", title="Accuracy under natural corruptions", kind="line",
        x_label="corruption level", y_label="accuracy",
        series=tuple(Series(kind, tuple(x for x, _ in pts), tuple(y for _, y in pts)) for kind, pts in curves.items()),
    ))


def _describe(c: Corruption, is_image: bool) -> str:
    if c.kind == "noise":
        unit = "pixel units" if is_image else "standard deviations, on mutable numeric features"
        return f"adding Gaussian noise of σ={c.level:g} ({unit})"
    if c.kind == "blur":
        return f"a Gaussian blur of σ={c.level:g} pixels"
    return f"shifting brightness by {c.level:+g}"
