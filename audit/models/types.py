"""`ModelUnderAudit`: the model the suites see, however it was obtained, described by what it can do.

Capabilities, not file types. Every suite decides from `capabilities` how far it can go:

  predict        a predicted class per audited row (every model has it)
  predict_proba  class probabilities (rows in [0, 1] summing to 1)
  score          a monotone score per class that ranks rows (probabilities are scores too): AUROC, ROC,
                 group thresholds
  logits         the raw outputs are logits (softmax gives the probabilities)
  queries        answers for inputs it was never given (every model but a file of predictions): attacks,
                 counterfactuals, permutation and SHAP explanations
  gradients      a differentiable torch view from the inputs to the outputs: white-box attacks and explainers
  torch          a PyTorch module, from which variants (int8, pruned, distilled) are built
  recipe         a training recipe to train it again: shadow models, remedies
  raw            raw inputs (text) behind the features, and the encoder that maps them

Torch models get predict/predict_proba/score/queries/torch from their module. Other adapters (scikit-learn,
ONNX, prediction files) pass a `Backend` and state their capabilities; their `module`, when they answer
queries, is a `QueryOnlyModule`: callable like a torch module, but with no gradients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from audit.errors import SuiteSkipped

CAPABILITIES = ("predict", "predict_proba", "score", "logits", "queries", "gradients", "torch", "recipe", "raw")
OUTPUT_KINDS = ("logits", "probabilities", "scores", "labels")
_TORCH_CAPABILITIES = frozenset({"predict", "predict_proba", "score", "queries", "torch"})


MAX_BATCH_ROWS = 4096
MAX_BATCH_VALUES = 2**19  # input values per forward pass: an image's first activations are tens of times its input,
# and blocks over glibc's 32 MB mmap threshold are mapped and page-faulted afresh on every call (system time).
# Tabular rows (≤ 128 values) keep 4,096-row batches.
CACHE_PASS_VALUES = 2**17  # input values per CPU pass where a CNN's activations stay in cache (mnist-cnn: 167 images;
# its forward and input-gradient passes ~25-30% less CPU than in 500-row batches, the same outputs row by row)


def rows_within(values_per_row: int, max_values: int, min_rows: int = 1, max_rows: int | None = None) -> int:
    """Rows per call that keep rows x values_per_row within `max_values` (then clamped to [min_rows, max_rows])."""
    rows = max(min_rows, max_values // max(1, values_per_row))
    return rows if max_rows is None else min(max_rows, rows)


def row_values(x: torch.Tensor) -> int:
    """Input values in one row of `x` (1 for no rows)."""
    return x[0].numel() if x.shape[0] else 1


def batch_rows(x: torch.Tensor) -> int:
    """Rows per forward pass: 4,096 tabular rows; fewer for wide (image, token) rows."""
    return rows_within(row_values(x), MAX_BATCH_VALUES, max_rows=MAX_BATCH_ROWS)


class MissingCapability(SuiteSkipped):
    """A suite asked a model for something it cannot give (e.g. probabilities from a file of predicted classes):
    the suite ends skipped with this reason, never passed."""


@dataclass(frozen=True)
class ModelSource:
    # zoo | export | safetensors | torchscript | state-dict | foundation | sklearn | onnx | predictions
    kind: str
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


class Backend(Protocol):
    """A model that is not a torch module. `x` is a float32 batch of audit inputs, shaped like `Split.x`."""

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """(n, n_classes) raw outputs of the kind `ModelUnderAudit.outputs` names (not for "labels")."""
        ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n,) predicted class indices, as the model itself decides them."""
        ...


class QueryOnlyModule(torch.nn.Module):
    """A backend seen as a torch module for the black-box paths: outputs carry no gradient (they are detached)."""

    def __init__(self, backend: Backend):
        super().__init__()
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backend.outputs(x.detach().cpu().numpy())  # float64 inputs stay exact (tree thresholds)
        return torch.as_tensor(np.asarray(out, dtype=np.float32)).to(x.device)


@dataclass(frozen=True)
class ModelUnderAudit:
    """The audited model: what it can do (`capabilities`) and how to ask it.

    `module(x)` (when present) returns one row per example: logits, probabilities or scores over `n_classes`
    classes, as `outputs` says. Loaders normalise single-output binary models to two columns. A model without
    "queries" (a prediction file) has no module and answers only for the audited rows it came with.
    """

    name: str
    module: torch.nn.Module | None
    task: str
    n_classes: int
    input_kind: str
    input_shape: tuple[int, ...]
    outputs: str  # one of OUTPUT_KINDS
    device: str
    capabilities: frozenset[str]
    source: ModelSource
    recipe: Recipe | None = None
    # For models over embeddings of raw inputs (text): the frozen encoder mapping raw rows to `x`.
    encoder: torch.nn.Module | None = None
    backend: Backend | None = None  # set for every model that is not a torch module
    description: str = ""  # how the adapter read the model (e.g. "ONNX outputs read as logits"), for the report

    def __post_init__(self) -> None:
        if self.outputs not in OUTPUT_KINDS:
            raise ValueError(f"outputs must be one of {OUTPUT_KINDS}, got {self.outputs!r}")
        caps = set(self.capabilities) | {"predict"}
        if self.backend is None and self.module is not None:
            caps |= _TORCH_CAPABILITIES
        if self.module is None and self.backend is None:
            raise ValueError("a model needs a torch module or a backend")
        if "predict_proba" in caps:
            caps.add("score")
        if self.encoder is not None:
            caps.add("raw")
        if self.recipe is None:
            caps.discard("recipe")
        object.__setattr__(self, "capabilities", frozenset(caps))

    def can(self, *needed: str) -> bool:
        return set(needed) <= self.capabilities

    def _require(self, capability: str, what: str) -> None:
        if capability not in self.capabilities:
            raise MissingCapability(f"the model gives no {what} (it has: {', '.join(sorted(self.capabilities))})")

    @torch.no_grad()
    def scores(self, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Raw model outputs for `x` (batched, on the model's device), returned on the CPU as float32."""
        self._require("score", "scores or probabilities")
        if self.module is None:
            assert self.backend is not None
            return torch.as_tensor(np.asarray(self.backend.outputs(x.numpy()), dtype=np.float32))
        assert self.module is not None
        self.module.eval()
        batch_size = batch_size or batch_rows(x)
        parts = [
            self.module(x[i : i + batch_size].to(self.device)).float().cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
        return torch.cat(parts) if parts else torch.empty(0, self.n_classes)

    def predict_proba(self, x: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """(n, n_classes) class probabilities; MissingCapability for a model that only scores or predicts."""
        self._require("predict_proba", "class probabilities")
        out = self.scores(x, batch_size)
        probs = out if self.outputs == "probabilities" else torch.softmax(out, dim=1)
        return probs.double().numpy()

    def ranking_scores(self, x: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """(n, n_classes) monotone per-class scores: probabilities where the model has them, else its scores."""
        if "predict_proba" in self.capabilities:
            return self.predict_proba(x, batch_size)
        return self.scores(x, batch_size).double().numpy()

    def predict(self, x: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
        """(n,) predicted class indices: the model's own decision (a backend's `predict`, else the top output)."""
        if self.backend is None:
            return self.scores(x, batch_size).argmax(dim=1).numpy()
        if "queries" not in self.capabilities:  # a prediction file answers for its own rows, all at once
            return np.asarray(self.backend.predict(x.numpy()), dtype=np.int64)
        batch_size = batch_size or batch_rows(x)
        parts = [np.asarray(self.backend.predict(x[i : i + batch_size].numpy()), dtype=np.int64)
                 for i in range(0, x.shape[0], batch_size)]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
