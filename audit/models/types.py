"""`ModelUnderAudit`: the model the suites see, however it was obtained."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

CAPABILITIES = ("gradients", "logits", "recipe")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "zoo" | "export" | "safetensors" | "torchscript" | "state-dict" | "foundation"
    ref: str  # zoo name or file path
    sha256: str


@dataclass(frozen=True)
class Recipe:
    """Everything needed to train a reference model again, deterministically (shadow models too)."""

    name: str
    dataset: str
    architecture: str  # a name in audit.models.architectures
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 256
    seed: int = 0
    description: str = ""


@dataclass(frozen=True)
class ModelUnderAudit:
    """A torch module with what the suites need to know about it.

    `module(x)` returns one row per example: logits (or probabilities, if `outputs` says so) over
    `n_classes` classes. Loaders normalise single-logit binary models to two columns.
    """

    name: str
    module: torch.nn.Module
    task: str
    n_classes: int
    input_kind: str
    input_shape: tuple[int, ...]
    outputs: str  # "logits" | "probabilities"
    device: str
    capabilities: frozenset[str]
    source: ModelSource
    recipe: Recipe | None = None
    # For models over embeddings of raw inputs (text): the frozen encoder mapping raw rows to `x`.
    encoder: torch.nn.Module | None = None

    @torch.no_grad()
    def scores(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Raw model outputs for `x` (batched, on the model's device), returned on the CPU."""
        self.module.eval()
        parts = [
            self.module(x[i : i + batch_size].to(self.device)).float().cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
        return torch.cat(parts) if parts else torch.empty(0, self.n_classes)

    def predict_proba(self, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
        out = self.scores(x, batch_size)
        probs = out if self.outputs == "probabilities" else torch.softmax(out, dim=1)
        return probs.double().numpy()

    def predict(self, x: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
        return self.scores(x, batch_size).argmax(dim=1).numpy()
