"""Checks on the model and data before any attack, and the default ε grids per input kind."""

from __future__ import annotations

import math

import torch

from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.models.types import ModelUnderAudit

# Tabular ε are in standard deviations of each numeric feature; beyond this an "attack" is a new person.
MAX_TABULAR_EPS = 3.0


def is_small_grayscale(shape: tuple[int, ...]) -> bool:
    """MNIST-like data, where the literature's ε runs to 0.3 rather than 8/255."""
    return len(shape) == 3 and shape[0] == 1 and shape[1] * shape[2] <= 32 * 32


def default_eps(data: Dataset, norm: str, sweep: str) -> tuple[float, ...]:
    quick = sweep == "quick"
    if data.input_kind == "image":
        if norm == "l2":
            return (0.5, 2.0) if quick else (0.25, 0.5, 1.0, 2.0)
        if is_small_grayscale(data.input_shape):
            return (0.1, 0.3) if quick else (1 / 255, 4 / 255, 8 / 255, 0.1, 0.2, 0.3)
        return (2 / 255, 8 / 255) if quick else (1 / 255, 2 / 255, 4 / 255, 8 / 255)
    if norm == "l2":
        return (0.25, 1.0) if quick else (0.1, 0.25, 0.5, 1.0)
    return (0.1, 0.5) if quick else (0.05, 0.1, 0.25, 0.5, 1.0)


def check_eps(data: Dataset, norm: str, eps: tuple[float, ...]) -> None:
    """ε must sit on the data's scale: pixel units for images, standard deviations for tabular data."""
    if data.input_kind == "image":
        limit = 1.0 if norm == "linf" else math.sqrt(math.prod(data.input_shape))
        unit = "pixel units (images are in [0, 1]; 8/255 = 0.031)"
    else:
        limit = MAX_TABULAR_EPS * (1.0 if norm == "linf" else math.sqrt(max(len(data.feature_names), 1)))
        unit = "fractions of each feature's standard deviation (0.1 = a tenth of a std)"
    bad = [e for e in eps if not (0 < e <= limit)]
    if bad:
        raise AuditInputError(
            f"robustness: {norm} ε {bad} is outside the data's scale (0, {limit:g}]; give ε in {unit} "
            f"via [tool.audit.suites.robustness] eps_{norm} = [...]"
        )


def check_inputs(model: ModelUnderAudit, data: Dataset, x: torch.Tensor) -> None:
    """Shape, value range and output shape must match before attacking; errors say expected vs actual."""
    if tuple(model.input_shape) != tuple(x.shape[1:]):
        raise AuditInputError(
            f"robustness: the model expects inputs of shape {tuple(model.input_shape)} but the data "
            f"'{data.name}' has shape {tuple(x.shape[1:])}; pass data encoded the way the model was trained"
        )
    if data.input_kind == "image":
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise AuditInputError(
                f"robustness: image pixels must lie in [0, 1] but the data spans [{lo:.3g}, {hi:.3g}]; "
                "scale images to [0, 1] and put any normalisation inside the model"
            )
    if model.n_classes != data.n_classes:
        raise AuditInputError(
            f"robustness: the model has {model.n_classes} classes but the data has {data.n_classes}"
        )
    if not model.can("score"):  # a labels-only model: its adapter checked the output shape on load
        return
    out = model.scores(x[:4])
    if out.dim() != 2 or out.shape[1] != model.n_classes:
        raise AuditInputError(
            f"robustness: expected model outputs of shape (rows, {model.n_classes}) but got {tuple(out.shape)}"
        )
    if not torch.isfinite(out).all():
        raise AuditInputError("robustness: the model returns NaN or infinite scores on clean inputs")
