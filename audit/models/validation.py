"""Check a loaded user model against the audit data before any suite runs, and normalise its outputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from audit.data.types import Dataset
from audit.errors import AuditInputError

PROBE_ROWS = 256  # enough rows that "all rows sum to 1" is not a coincidence


class TwoLogits(nn.Module):
    """Turn a single-logit binary model into two columns [0, z]: softmax of these is sigmoid(z)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x).reshape(-1, 1)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class TwoProbabilities(nn.Module):
    """Turn a single sigmoid-probability binary model into two columns [1 - p, p]."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.inner(x).reshape(-1, 1)
        return torch.cat([1 - p, p], dim=1)


@dataclass(frozen=True)
class CheckedModel:
    module: nn.Module
    outputs: str  # "logits" | "probabilities"
    gradients: bool


def _graph_input_shape(module: nn.Module) -> str | None:
    graph = getattr(module, "graph", None)
    if not isinstance(graph, torch.fx.Graph):
        return None
    for node in graph.nodes:
        if node.op == "placeholder" and hasattr(node.meta.get("val"), "shape"):
            return "(" + ", ".join(str(d) for d in node.meta["val"].shape) + ")"
    return None


def expected_input_hint(module: nn.Module) -> str:
    """What input the model wants, for error messages ("" if it cannot tell)."""
    for layer in module.modules():
        if (shape := _graph_input_shape(layer)) is not None:
            return f" (the model expects {shape})"
        if isinstance(layer, nn.Linear):
            return f" (the model expects (batch, {layer.in_features}))"
        if isinstance(layer, nn.Conv2d):
            return f" (the model expects (batch, {layer.in_channels}, height, width))"
    return ""


def _run(module: nn.Module, x: torch.Tensor, data: Dataset) -> torch.Tensor:
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as error:  # noqa: BLE001 - any failure on the probe batch is a model/data mismatch
        raise AuditInputError(
            f"The model failed on inputs of shape {tuple(x.shape)} from data set {data.name!r}"
            f"{expected_input_hint(module)}: {(str(error).splitlines() or [type(error).__name__])[0][:300]}. "
            "Check that the data's feature columns match the model's inputs (--features); a torch.export "
            "program must be exported with a dynamic batch dimension."
        ) from error
    if not isinstance(out, torch.Tensor):
        raise AuditInputError(f"The model returned {type(out).__name__}, not a tensor of class scores.")
    return out


def _is_probability_rows(out: torch.Tensor) -> bool:
    return bool((out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(out.shape[0]), atol=1e-4))


def _normalise(module: nn.Module, out: torch.Tensor, data: Dataset) -> tuple[nn.Module, str]:
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        if data.n_classes != 2:
            raise AuditInputError(
                f"The model returns one score per row but data set {data.name!r} has {data.n_classes} classes."
            )
        if bool(((out >= 0) & (out <= 1)).all()):
            return TwoProbabilities(module), "probabilities"  # a sigmoid output, not a logit
        return TwoLogits(module), "logits"
    if out.ndim != 2 or out.shape[1] != data.n_classes:
        raise AuditInputError(
            f"The model outputs shape {tuple(out.shape)} but data set {data.name!r} has {data.n_classes} classes "
            f"{list(data.class_names)}: expected (batch, {data.n_classes})."
        )
    return module, "probabilities" if _is_probability_rows(out) else "logits"


def _has_gradients(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether d(output)/d(input) can be computed (attacks and saliency need it)."""
    probe = x[:2].clone().requires_grad_(True)
    try:
        (grad,) = torch.autograd.grad(module(probe).sum(), probe, allow_unused=True)
    except Exception:  # noqa: BLE001 - no usable gradient, whatever the reason: the capability is absent
        return False
    return grad is not None


def check_model(module: nn.Module, data: Dataset, device: str) -> CheckedModel:
    """Run a small batch of the audit data through the model; fail with a clear message if it does not fit."""
    module = module.eval()
    x = data.test.x[:PROBE_ROWS].to(device)
    out = _run(module, x, data).float().cpu()
    if not torch.isfinite(out).all():
        raise AuditInputError(f"The model produced NaN or infinite outputs on data set {data.name!r}.")
    wrapped, outputs = _normalise(module, out, data)
    return CheckedModel(module=wrapped, outputs=outputs, gradients=_has_gradients(wrapped, x))
