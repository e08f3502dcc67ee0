"""SHAP attributions of the audited model's decision output, via shap's explainers.

The explained output is one number per row: the log-odds of the positive class for binary tasks,
the predicted class's score for multiclass. Values come back flattened to (n, D) input columns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audit.models.types import ModelUnderAudit

METHODS = ("auto", "gradient", "deep", "kernel", "permutation")
BLACK_BOX_METHODS = ("kernel", "permutation")  # need only the model's outputs, never its gradients


@dataclass(frozen=True)
class ExplainerSpec:
    method: str  # resolved: "gradient" | "deep" | "kernel"
    nsamples: int  # gradient: expected-gradient samples per row; kernel: coalitions per row
    kernel_background: int  # k-means centroids summarising the background for KernelExplainer
    permutations: int = 10  # permutation explainer: forward-and-backward passes over the features per row


@dataclass(frozen=True)
class Attributions:
    values: np.ndarray  # (n, D) SHAP values per flattened input column
    explained: np.ndarray  # (n,) the explained output f(x)
    baseline: np.ndarray  # (n,) E[f(background)] for the explained class
    classes: np.ndarray  # (n,) class whose score is explained per row


class DecisionOutput(nn.Module):
    """Binary: log-odds of the positive class, as one column. Multiclass: all class scores."""

    def __init__(self, module: nn.Module, task: str, outputs: str, positive_class: int):
        super().__init__()
        self.module, self.task, self.outputs, self.positive = module, task, outputs, positive_class

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.module(x).float()
        if self.outputs == "probabilities":
            scores = torch.log(scores.clamp_min(1e-7))
        if self.task != "binary":
            return scores
        return (scores[:, self.positive] - scores[:, 1 - self.positive]).unsqueeze(1)


def resolve_method(method: str, model: ModelUnderAudit) -> str:
    """auto: DeepExplainer where shap has a rule for every layer (fast, exact additivity), else expected
    gradients; KernelExplainer for models without gradients. A DeepExplainer result that does not add
    up (say, a functional nonlinearity shap cannot see) is redone with gradients by the suite."""
    if method != "auto":
        return method
    if "gradients" not in model.capabilities:
        return "kernel"  # bench_blackbox.py: KernelExplainer vs the permutation explainer at equal fidelity
    return "deep" if model.outputs == "logits" and deep_supported(model.module) else "gradient"


def deep_supported(module: nn.Module) -> bool:
    """Whether shap's DeepExplainer has a rule for every layer (its op_handler's layer names, kept in deeplift.py
    so that choosing an explainer does not import shap)."""
    from audit.suites.explainability.deeplift import SHAP_RULES

    leaves = [m for m in module.modules() if not list(m.children())]
    return bool(leaves) and all(type(m).__name__ in SHAP_RULES for m in leaves)


def explain(model: ModelUnderAudit, positive_class: int, x: torch.Tensor, background: torch.Tensor,
            spec: ExplainerSpec, seed: int) -> Attributions:
    """SHAP values of `x` against `background`, reproducible from `seed`."""
    head = DecisionOutput(model.module, model.task, model.outputs, positive_class).eval()
    x, background = x.to(model.device), background.to(model.device)
    with torch.no_grad():
        all_scores = head(x).cpu().numpy()
        bg_scores = head(background).cpu().numpy()
    classes = np.full(len(x), positive_class) if model.task == "binary" else all_scores.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's deprecation chatter; failures still raise
        if spec.method == "kernel":
            values = _kernel(head, x, background, classes, spec, seed, model.device)
        elif spec.method == "permutation":
            values = _permutation(head, x, background, classes, spec, seed, model.device)
        elif spec.method == "deep":
            from audit.suites.explainability.deeplift import deeplift

            values = deeplift(head, x, background, classes)
        else:
            values = _torch_explainer(head, x, background, spec, seed)
    rows = np.arange(len(x))
    column = 0 if model.task == "binary" else classes
    return Attributions(values=values, explained=all_scores[rows, column], classes=classes,
                        baseline=bg_scores.mean(axis=0)[column] * np.ones(len(x)))


def _torch_explainer(head: nn.Module, x: torch.Tensor, background: torch.Tensor, spec: ExplainerSpec,
                     seed: int) -> np.ndarray:
    import shap

    ranked = None if head.task == "binary" else 1  # multiclass: explain each row's top-scoring class
    if spec.method == "deep":  # shap's own DeepExplainer, one row at a time (the suite uses deeplift.py)
        own = {id(m): set(m._parameters) for m in head.modules()}
        explainer = shap.DeepExplainer(head, background)
        try:
            out = explainer.shap_values(x, ranked_outputs=ranked, check_additivity=False)
        finally:
            _drop_added_parameters(head, own)
    else:
        # One batch per explained row (shap's default is 50 samples per batch): fewer, larger calls.
        explainer = shap.GradientExplainer(head, background, batch_size=max(spec.nsamples, 1))
        out = explainer.shap_values(x, nsamples=spec.nsamples, ranked_outputs=ranked, rseed=seed)
    values = out[0] if isinstance(out, tuple) else out
    return np.asarray(values, dtype=float)[..., 0].reshape(len(x), -1)


def _drop_added_parameters(head: nn.Module, own: dict[int, set[str]]) -> None:
    """shap's DeepExplainer hooks store each layer's input and output as parameters `x`, `y`, and its cleanup walks
    only nn.Sequential-like containers: layers inside a custom module keep them, and they would enter the audited
    model's state_dict (a later suite loading it into a fresh copy then fails). Remove what the explainer added."""
    for m in head.modules():
        for name in set(m._parameters) - own.get(id(m), set()):
            del m._parameters[name]


def _kernel(head: nn.Module, x: torch.Tensor, background: torch.Tensor, classes: np.ndarray,
            spec: ExplainerSpec, seed: int, device: str) -> np.ndarray:
    import shap

    flat_shape = tuple(x.shape[1:])

    def predict(rows: np.ndarray) -> np.ndarray:
        batch = torch.as_tensor(rows, dtype=torch.float32).reshape(-1, *flat_shape).to(device)
        with torch.no_grad():
            return head(batch).cpu().numpy()

    summary = shap.kmeans(background.reshape(len(background), -1).cpu().numpy(),
                          min(spec.kernel_background, len(background)))
    np.random.seed(seed)  # KernelExplainer samples coalitions from numpy's global generator
    explainer = shap.KernelExplainer(predict, summary)
    raw = np.asarray(explainer.shap_values(x.reshape(len(x), -1).cpu().numpy(), nsamples=spec.nsamples,
                                           silent=True), dtype=float)
    if raw.ndim == 2:
        return raw
    return raw[np.arange(len(x)), :, classes] if head.task != "binary" else raw[..., 0]


def _permutation(head: nn.Module, x: torch.Tensor, background: torch.Tensor, classes: np.ndarray,
                 spec: ExplainerSpec, seed: int, device: str) -> np.ndarray:
    """shap's PermutationExplainer over the background (interventional Shapley values): each permutation is
    walked forwards and backwards, so the values add up to f(x) - E f exactly, whatever the sample size."""
    import shap

    flat_shape = tuple(x.shape[1:])

    def predict(rows: np.ndarray) -> np.ndarray:
        batch = torch.as_tensor(rows, dtype=torch.float32).reshape(-1, *flat_shape).to(device)
        with torch.no_grad():
            return head(batch).cpu().numpy()

    flat_bg = background.reshape(len(background), -1).cpu().numpy()
    masker = shap.maskers.Independent(flat_bg, max_samples=len(flat_bg))
    np.random.seed(seed)  # the explainer shuffles features with numpy's global generator
    explainer = shap.PermutationExplainer(predict, masker, seed=seed)
    width = int(np.prod(flat_shape))
    out = explainer(x.reshape(len(x), -1).cpu().numpy(), max_evals=spec.permutations * (2 * width + 1), silent=True)
    raw = np.asarray(out.values, dtype=float)
    if raw.ndim == 2:
        return raw
    return raw[np.arange(len(x)), :, classes] if head.task != "binary" else raw[..., 0]


def additivity_error(attr: Attributions) -> float:
    """Mean |sum of SHAP - (f(x) - E f)| relative to mean |f(x) - E f|: SHAP's local-accuracy axiom."""
    gap = attr.explained - attr.baseline
    scale = float(np.abs(gap).mean())
    if scale == 0.0:
        return 0.0
    return float(np.abs(attr.values.sum(axis=1) - gap).mean() / scale)
