"""Architectures the zoo's recipes name. Plain modules: no code runs from weight files."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class TabularMLP(nn.Module):
    """A small MLP over preprocessed tabular features; outputs logits."""

    def __init__(self, in_features: int, n_classes: int = 2, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MnistCNN(nn.Module):
    """A compact CNN for 1x28x28 inputs in [0, 1]; outputs logits over 10 digits."""

    def __init__(self, n_classes: int = 10, channels: tuple[int, int] = (16, 32), hidden: int = 64):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "tabular-mlp": TabularMLP,
    "mnist-cnn": MnistCNN,
}


def build(architecture: str, **kwargs: object) -> nn.Module:
    """Instantiate a named architecture (used by the zoo and for retraining shadow models)."""
    return ARCHITECTURES[architecture](**kwargs)
