"""Models and data built to pass or fail the robustness suite's validity checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from audit.data.types import Dataset, Split
from audit.models.types import ModelUnderAudit
from audit.suite import SuiteContext
from audit.suites.robustness import RobustnessParams
from audit.testing import wrap_module

FAST = RobustnessParams(n_rows=200, sweep="quick", pgd_steps=10, run_l2=False, run_apgd=False, n_blackbox=60,
                        blackbox_queries=200, n_deepfool=40, deepfool_steps=20)


class Softmaxed(nn.Module):
    """Returns probabilities instead of logits."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.inner(x), dim=1)


class Rounded(nn.Module):
    """Gradient masking: quantises its input first, so the gradient is zero almost everywhere."""

    def __init__(self, inner: nn.Module, step: float = 0.5):
        super().__init__()
        self.inner, self.step = inner, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x / self.step) * self.step)


class Noisy(nn.Module):
    """A randomised model: predictions change between calls on the same input."""

    def __init__(self, inner: nn.Module, sigma: float = 2.0):
        super().__init__()
        self.inner, self.sigma = inner, sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + self.sigma * torch.randn_like(x))


def context(model: ModelUnderAudit, data: Dataset, seed: int = 0) -> SuiteContext:
    return SuiteContext(model=model, data=data, seed=seed, preset="quick", cache_dir=Path(tempfile.mkdtemp()))


def image_data_and_linear_model(n: int = 64, seed: int = 0) -> tuple[Dataset, ModelUnderAudit]:
    """Random 1x28x28 images labelled by a dense large-weight linear model (a textbook weak model)."""
    gen = torch.Generator().manual_seed(seed)
    module = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        module[1].weight.copy_(torch.randn(10, 784, generator=gen))
        module[1].bias.zero_()
    x = torch.rand(n, 1, 28, 28, generator=gen)
    with torch.no_grad():
        y = module(x).argmax(1)
    split = Split(x=x, y=y, sensitive=pd.DataFrame(index=range(n)))
    data = Dataset(
        name="random-images", task="multiclass", class_names=tuple(str(i) for i in range(10)), input_kind="image",
        feature_names=(), features=(), sensitive_attributes=(), train=None, test=split, source="test", sha256="t",
    )
    return data, wrap_module(module, data, name="weak-linear")
