"""The explainability suite: SHAP attributions, reliance on sensitive attributes, and how far to trust them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from audit.errors import AuditInputError, SuiteSkipped
from audit.evidence import RowEvidence, row_keys
from audit.suite import Output, SuiteContext, SuiteOutput, bounded
from audit.suites.explainability import figures, reliance
from audit.suites.explainability.attribution import (
    BLACK_BOX_METHODS,
    METHODS,
    Attributions,
    ExplainerSpec,
    additivity_error,
    explain,
    resolve_method,
)
from audit.suites.explainability.evidence import reliance_columns
from audit.suites.explainability.groups import feature_groups, group_sum
from audit.suites.explainability.trust import permutation_importance

_SALT_ROWS, _SALT_BG_A, _SALT_BG_B, _SALT_SEEDS, _SALT_PERM, _SALT_JITTER = 601, 602, 603, 604, 605, 606


@dataclass(frozen=True)
class ExplainabilityParams:
    # auto (deep, else gradient; kernel without gradients) | gradient | deep | kernel | permutation
    explainer: str = bounded("auto", choices=METHODS)
    n_explain: int = bounded(300, min=1)  # test rows explained (seeded sample)
    n_background: int = bounded(100, min=1)  # background rows (seeded sample of the training data)
    nsamples: int = bounded(200, min=1)  # expected-gradient samples (gradient) or coalitions (kernel) per row
    kernel_background: int = bounded(20, min=1)  # k-means centroids summarising the background for KernelExplainer
    kernel_max_rows: int = bounded(60, min=1)  # black-box explainers are slow: explain at most this many rows
    shap_permutations: int = bounded(10, min=1)  # permutation explainer: forward-and-backward passes per row
    permutation_rows: int = bounded(1000, min=1)
    permutation_repeats: int = bounded(5, min=1)
    n_local: int = bounded(5, min=0)  # largest-loss errors explained individually
    top_features: int = bounded(10, min=1)
    patches_per_side: int = bounded(7, min=1)  # images: patches per side for rankings and permutation tests
    # Spearman under which the reviewer is told attributions are unstable
    unstable_below: float = bounded(0.7, min=-1.0, max=1.0)
    bootstrap_resamples: int = bounded(1000, min=1)


QUICK = ExplainabilityParams(n_explain=100, nsamples=100, kernel_max_rows=30, permutation_rows=400,
                             permutation_repeats=3, n_local=3, bootstrap_resamples=300)


class ExplainabilitySuite:
    name: ClassVar[str] = "explainability"
    pillar: ClassVar[str] = "explainability"
    requires: ClassVar[frozenset[str]] = frozenset({"queries", "predict_proba"})
    relative_cost: ClassVar[float] = 2.0  # rough share of a run: the longest start first (--jobs)
    description: ClassVar[str] = "SHAP feature attributions, reliance on sensitive attributes, attribution stability"
    Params = ExplainabilityParams
    emits: ClassVar[tuple[str, ...]] = ("rank_stability", "permutation_agreement", "sensitive_reliance",
                                        "sensitive_reliance[*]", "proxy_reliance[*]")
    reads: ClassVar[tuple[Output, ...]] = (reliance.PROXIES, reliance.PROXY_AUROC)

    def params_for(self, preset: str) -> ExplainabilityParams:
        return QUICK if preset == "quick" else ExplainabilityParams()

    def run(self, ctx: SuiteContext, params: ExplainabilityParams) -> SuiteOutput:
        from audit.threads import one_thread

        with one_thread():  # many small products: on a busy 2-core machine a second thread spins
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: ExplainabilityParams) -> SuiteOutput:
        _check_context(ctx, params)
        method = resolve_method(params.explainer, ctx.model)
        if ctx.data.input_kind == "image" and method in BLACK_BOX_METHODS:
            raise SuiteSkipped(f"the {method} explainer over every pixel is intractable; an image model needs "
                               "gradients")
        spec = ExplainerSpec(method, params.nsamples, params.kernel_background, params.shap_permutations)
        rows = _explained_rows(ctx, params, method)
        bg_a, bg_b = _backgrounds(ctx, params, rows)
        seeds = ctx.rng(_SALT_SEEDS).integers(0, 2**31 - 1, size=3)
        x = ctx.data.test.x[torch.from_numpy(rows)]
        ctx.progress(0, 4, "explaining (background A)")
        attr_a, spec, fallback = _first_explanation(ctx, params, spec, x, bg_a, int(seeds[0]))
        method = spec.method
        if fallback is None and method in BLACK_BOX_METHODS and not ctx.model.can("gradients"):
            fallback = (f"The model gives no gradients, so attributions come from a black-box explainer (shap's "
                        f"{'KernelExplainer' if method == 'kernel' else 'PermutationExplainer'}) on its outputs.")
        ctx.progress(1, 4, "explaining (background B)")
        attr_b = explain(ctx.model, ctx.data.positive_class, x, bg_b, spec, int(seeds[1]))
        groups = feature_groups(ctx.data, params.patches_per_side)
        ctx.progress(2, 4, "permutation importance")
        perm_rows, perm_x, perm_y = _permutation_rows(ctx, params)
        drops = permutation_importance(ctx.model.predict_proba, perm_x, perm_y, groups, params.permutation_repeats,
                                       ctx.rng(_SALT_PERM))
        ctx.progress(3, 4, "local explanations")
        errors = figures.largest_loss_errors(ctx.model, perm_x, perm_y, perm_rows, params.n_local)
        attr_err = (explain(ctx.model, ctx.data.positive_class, errors.x, bg_a, spec, int(seeds[2]))
                    if len(errors.rows) else None)
        evidence = figures.Evidence(
            method=method, rows=rows, x=x, groups=groups, attr_a=attr_a, attr_b=attr_b,
            signed=group_sum(attr_a.values, groups), signed_b=group_sum(attr_b.values, groups),
            permutation=drops, errors=errors, attr_err=attr_err, params=params,
            jitter=ctx.rng(_SALT_JITTER), fallback=fallback,
        )
        output = figures.build(ctx, evidence)
        ctx.progress(4, 4, "done")
        columns = reliance_columns(evidence.signed, [g.name for g in groups], output.measurements)
        keys = row_keys(x, ctx.data.test.y[torch.from_numpy(rows)])
        return dataclasses.replace(output, evidence=RowEvidence("audit", keys, columns) if columns else None)


def _first_explanation(ctx: SuiteContext, params: ExplainabilityParams, spec: ExplainerSpec, x: torch.Tensor,
                       background: torch.Tensor, seed: int) -> tuple[Attributions, ExplainerSpec, str | None]:
    """Explain `x`; an automatic DeepExplainer choice whose values do not add up is redone with gradients."""
    attr = explain(ctx.model, ctx.data.positive_class, x, background, spec, seed)
    error = additivity_error(attr)
    if spec.method != "deep" or params.explainer != "auto" or error <= figures.MAX_ADDITIVITY_ERROR:
        return attr, spec, None
    spec = dataclasses.replace(spec, method="gradient")
    note = (f"DeepExplainer's values did not add up to the model output (error {error:.0%}), so expected "
            "gradients were used instead.")
    return explain(ctx.model, ctx.data.positive_class, x, background, spec, seed), spec, note


def _check_context(ctx: SuiteContext, params: ExplainabilityParams) -> None:
    if ctx.data.input_kind == "text":
        raise SuiteSkipped("text models are explained by the text-explainability suite")
    if params.explainer in ("gradient", "deep") and "gradients" not in ctx.model.capabilities:
        raise AuditInputError(f"explainability.explainer={params.explainer!r} needs a model with gradients; "
                              "use explainer = \"kernel\" or \"auto\"")


def _explained_rows(ctx: SuiteContext, params: ExplainabilityParams, method: str) -> np.ndarray:
    cap = params.kernel_max_rows if method in BLACK_BOX_METHODS else params.n_explain
    n = len(ctx.data.test)
    return np.sort(ctx.rng(_SALT_ROWS).choice(n, size=min(cap, n), replace=False))


def _backgrounds(ctx: SuiteContext, params: ExplainabilityParams,
                 explained: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent seeded background samples: training rows, else test rows not being explained."""
    train = ctx.data.train
    pool = train.x if train is not None and len(train) > 0 else ctx.data.test.x[
        torch.from_numpy(np.setdiff1d(np.arange(len(ctx.data.test)), explained))]
    if len(pool) == 0:
        raise SuiteSkipped("no rows left to serve as a SHAP background (no training data, tiny test set)")
    size = min(params.n_background, len(pool))
    pick_a = ctx.rng(_SALT_BG_A).choice(len(pool), size=size, replace=False)
    pick_b = ctx.rng(_SALT_BG_B).choice(len(pool), size=size, replace=False)
    return pool[torch.from_numpy(pick_a)], pool[torch.from_numpy(pick_b)]


def _permutation_rows(ctx: SuiteContext, params: ExplainabilityParams) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """Seeded test rows for permutation importance (and for finding the largest-loss errors)."""
    n = len(ctx.data.test)
    rows = np.sort(ctx.rng(_SALT_PERM + 100).choice(n, size=min(params.permutation_rows, n), replace=False))
    index = torch.from_numpy(rows)
    return rows, ctx.data.test.x[index], ctx.data.test.y[index].numpy()
