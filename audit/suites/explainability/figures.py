"""From attributions to the suite's measurements, validity checks, notes, tables and charts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from audit.models.types import ModelUnderAudit
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.explainability import reliance, report
from audit.suites.explainability.attribution import Attributions, additivity_error
from audit.suites.explainability.groups import FeatureGroup, group_sum
from audit.suites.explainability.trust import bootstrap_rank_agreement
from audit.types import Chart, Measurement, Table, ValidityCheck

if TYPE_CHECKING:
    from audit.suites.explainability.suite import ExplainabilityParams

MIN_ROWS = 30  # fewer explained rows than this cannot support a global ranking
MAX_ADDITIVITY_ERROR = 0.25  # SHAP values must add up to f(x) - E[f] within this relative error


@dataclass(frozen=True)
class Errors:
    rows: np.ndarray  # test-split indices of the largest-loss misclassified rows
    x: torch.Tensor
    y: np.ndarray
    proba: np.ndarray  # (k, n_classes)


@dataclass(frozen=True)
class Evidence:
    method: str
    rows: np.ndarray
    x: torch.Tensor
    groups: tuple[FeatureGroup, ...]
    attr_a: Attributions
    attr_b: Attributions
    signed: np.ndarray  # (n, G) background A
    signed_b: np.ndarray  # (n, G) background B
    permutation: np.ndarray  # (G, repeats)
    errors: Errors
    attr_err: Attributions | None
    params: ExplainabilityParams
    jitter: np.random.Generator
    fallback: str | None = None  # why the automatic explainer choice was changed


def largest_loss_errors(model: ModelUnderAudit, x: torch.Tensor, y: np.ndarray, test_rows: np.ndarray,
                        k: int) -> Errors:
    proba = model.predict_proba(x)
    loss = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0))
    wrong = np.flatnonzero(proba.argmax(axis=1) != y)
    pick = wrong[np.argsort(-loss[wrong], kind="stable")][:k]
    return Errors(test_rows[pick], x[torch.from_numpy(pick)], y[pick], proba[pick])


def build(ctx: SuiteContext, ev: Evidence) -> SuiteOutput:
    abs_rows = np.abs(ev.signed)
    measurements = [*_trust(ev, abs_rows, ctx.seed), *_reliance(ctx, ev, abs_rows)]
    tables, charts = _report(ctx, ev, abs_rows)
    return SuiteOutput(measurements=tuple(measurements), tables=tuple(tables), charts=tuple(charts),
                       validity=(_additivity(ev),), notes=tuple(_notes(ctx, ev, abs_rows, measurements)))


def _details(ev: Evidence) -> dict:
    p = ev.params
    return {"explainer": ev.method, "explained_rows": len(ev.rows), "background_rows": p.n_background,
            "nsamples": p.nsamples, "bootstrap_resamples": p.bootstrap_resamples,
            "units": "image patches" if ev.x.dim() > 2 else "features"}


def _too_few(ev: Evidence) -> str | None:
    if len(ev.rows) < MIN_ROWS:
        return f"only {len(ev.rows)} rows explained; at least {MIN_ROWS} are needed for a global ranking"
    if len(ev.groups) < 3:
        return "fewer than 3 features: a rank correlation is not meaningful"
    return None


def _trust(ev: Evidence, abs_rows: np.ndarray, seed: int) -> list[Measurement]:
    p = ev.params
    stab, stab_ci = bootstrap_rank_agreement(abs_rows, None, np.abs(ev.signed_b), p.bootstrap_resamples, seed)
    perm = ev.permutation.mean(axis=1)
    agree, agree_ci = bootstrap_rank_agreement(abs_rows, perm, None, p.bootstrap_resamples, seed + 1)
    base = _too_few(ev)
    flat = "permutation importance is zero for every feature" if not np.any(perm) else None
    return [
        Measurement("rank_stability", _finite(stab), stab_ci, True, len(ev.rows),
                    "Spearman rank correlation between feature importances computed against two different "
                    "background samples and seeds (1 = the same ranking).",
                    _details(ev), base or _nan_reason(stab)),
        Measurement("permutation_agreement", _finite(agree), agree_ci, True, len(ev.rows),
                    "Spearman rank correlation between SHAP importance and permutation importance "
                    "(how much the model's log-likelihood drops when a feature is shuffled).",
                    {**_details(ev), "permutation_rows": int(p.permutation_rows),
                     "permutation_repeats": p.permutation_repeats}, base or flat or _nan_reason(agree)),
    ]


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def _nan_reason(value: float) -> str | None:
    return None if np.isfinite(value) else "the ranking is constant (all importances tied), so no correlation"


def _reliance(ctx: SuiteContext, ev: Evidence, abs_rows: np.ndarray) -> list[Measurement]:
    if not ctx.data.sensitive_attributes:
        return []
    p, n_groups, out = ev.params, len(ev.groups), []
    direct = reliance.sensitive_groups(ev.groups)
    all_direct = [i for idx in direct.values() for i in idx]
    too_few = _too_few(ev) if len(ev.rows) < MIN_ROWS else None
    value, ci = reliance.share(abs_rows, reliance.mask_of(all_direct, n_groups), p.bootstrap_resamples, ctx.seed)
    out.append(Measurement(
        "sensitive_reliance", value, ci, False, len(ev.rows),
        "Share of the model's total attribution that falls on sensitive attributes used as model inputs"
        + ("." if direct else " (none of them is a model input, so it is zero by construction)."),
        {**_details(ev), "sensitive_inputs": sorted(direct)}, too_few))
    for name, idx in direct.items():
        value, ci = reliance.share(abs_rows, reliance.mask_of(idx, n_groups), p.bootstrap_resamples, ctx.seed)
        out.append(Measurement(f"sensitive_reliance[{name}]", value, ci, False, len(ev.rows),
                               f"Share of the model's total attribution that falls on the input '{name}'.",
                               _details(ev), too_few))
    proxies = reliance.proxy_groups(ctx.table(reliance.PROXIES), ev.groups, ctx.data.feature_names)
    strength = {m.name: m.value for m in ctx.measurements(reliance.PROXY_AUROC)}
    for attribute, idx in sorted((proxies or {}).items()):
        value, ci = reliance.share(abs_rows, reliance.mask_of(idx, n_groups), p.bootstrap_resamples, ctx.seed)
        out.append(Measurement(
            f"proxy_reliance[{attribute}]", value, ci, False, len(ev.rows),
            f"Share of the model's total attribution on the features the fairness suite found most predictive "
            f"of '{attribute}'.", {**_details(ev), "proxies": [ev.groups[i].name for i in idx],
                                   "proxy_auroc": strength.get(f"proxy_auroc[{attribute}]")}, too_few))
    return out


def _additivity(ev: Evidence) -> ValidityCheck:
    errors = [additivity_error(ev.attr_a), additivity_error(ev.attr_b)]
    worst = max(errors)
    return ValidityCheck(
        "shap_additivity", worst <= MAX_ADDITIVITY_ERROR,
        f"SHAP values add up to the model output minus its background mean within {worst:.1%} "
        f"(relative mean error, largest of two runs; limit {MAX_ADDITIVITY_ERROR:.0%}).")


def _report(ctx: SuiteContext, ev: Evidence, abs_rows: np.ndarray) -> tuple[list[Table], list[Chart]]:
    p = ev.params
    importance = abs_rows.mean(axis=0)
    total = importance.sum()
    shares = importance / total if total > 0 else importance
    tables = [report.importance_table(ev.groups, importance, shares, ev.permutation.mean(axis=1))]
    if ctx.data.input_kind == "image":
        return tables, [report.importance_map(np.abs(ev.attr_a.values), ctx.data.input_shape), *_image_maps(ctx, ev)]
    charts = [report.importance_bar(ev.groups, importance, p.top_features),
              report.beeswarm(ev.groups, ev.signed, importance, min(p.top_features, 8), ev.jitter)]
    if ev.attr_err is not None:
        tables.append(report.local_table(_local_cases(ctx, ev), ev.groups, min(p.top_features, 5)))
    return tables, charts


def _label(ctx: SuiteContext, index: int) -> str:
    return ctx.data.class_names[index] if index < len(ctx.data.class_names) else str(index)


def _local_cases(ctx: SuiteContext, ev: Evidence) -> list[report.LocalCase]:
    assert ev.attr_err is not None
    signed = group_sum(ev.attr_err.values, ev.groups)
    flat = ev.errors.x.reshape(len(ev.errors.x), -1).numpy()
    cases = []
    for i, row in enumerate(ev.errors.rows):
        pred = int(ev.errors.proba[i].argmax())
        shown = tuple(_shown_value(ctx, g, flat[i]) for g in ev.groups)
        cases.append(report.LocalCase(int(row), _label(ctx, int(ev.errors.y[i])), _label(ctx, pred),
                                      float(ev.errors.proba[i, pred]),
                                      float(-np.log(max(ev.errors.proba[i, ev.errors.y[i]], 1e-12))),
                                      signed[i], shown))
    return cases


def _shown_value(ctx: SuiteContext, group: FeatureGroup, row: np.ndarray) -> str:
    spec = next((f for f in ctx.data.features if f.name == group.name), None)
    if spec is not None and spec.kind == "categorical" and spec.categories:
        return spec.categories[int(np.argmax(row[list(spec.columns)]))]
    return f"{row[group.columns[0]]:.4g}" if len(group.columns) == 1 else "(patch)"


def _image_maps(ctx: SuiteContext, ev: Evidence) -> tuple[Chart, Chart]:
    flat = ev.x.reshape(len(ev.x), -1).numpy()
    y = ctx.data.test.y[torch.from_numpy(ev.rows)].numpy()
    correct = np.flatnonzero(ctx.model.predict(ev.x) == y)
    typical = [int(correct[np.argmax(y[correct] == c)]) for c in np.unique(y[correct])][: max(ev.params.n_local, 5)]
    inputs = {"typical": flat[typical], "largest-loss error": np.empty((0, flat.shape[1]))}
    values = {"typical": ev.attr_a.values[typical], "largest-loss error": np.empty((0, flat.shape[1]))}
    labels = {"typical": [f"{_label(ctx, int(y[i]))}" for i in typical], "largest-loss error": []}
    if ev.attr_err is not None:
        inputs["largest-loss error"] = ev.errors.x.reshape(len(ev.errors.x), -1).numpy()
        values["largest-loss error"] = ev.attr_err.values
        labels["largest-loss error"] = [f"true {_label(ctx, int(t))} pred {_label(ctx, int(c))}"
                                        for t, c in zip(ev.errors.y, ev.errors.proba.argmax(axis=1), strict=True)]
    return report.attribution_maps(inputs, values, labels, ctx.data.input_shape)


def _notes(ctx: SuiteContext, ev: Evidence, abs_rows: np.ndarray, measurements: list[Measurement]) -> list[str]:
    p = ev.params
    target = ("the log-odds of the positive class "
              f"'{_label(ctx, ctx.data.positive_class)}'" if ctx.model.task == "binary"
              else "the score of each row's predicted class")
    order = np.argsort(-abs_rows.mean(axis=0), kind="stable")[:3]
    notes = [f"Attributions explain {target} with shap's {ev.method} explainer on {len(ev.rows)} test rows "
             f"against {p.n_background} background rows. Most influential: "
             + ", ".join(ev.groups[g].name for g in order) + "."]
    if ev.method == "deep":
        notes.append("The deep explainer's values come from shap's DeepExplainer rules (DeepLIFT rescale, each row "
                     "paired with every background row) applied to batches of pairs; they equal shap.DeepExplainer "
                     "run row by row to float32 rounding.")
    if ev.fallback:
        notes.append(ev.fallback)
    by_name = {m.name: m for m in measurements}
    for name, what in (("rank_stability", "across two backgrounds"), ("permutation_agreement",
                                                                      "with permutation importance")):
        m = by_name[name]
        if m.insufficient_reason is None and m.value < p.unstable_below:
            notes.append(f"Attributions are unstable: the feature ranking agrees only {m.value:.2f} (Spearman) "
                         f"{what}; treat the importance ranking with caution.")
    if ctx.data.sensitive_attributes and reliance.PROXIES.suite not in ctx.previous:
        notes.append("The fairness suite did not run before this one, so reliance on proxies of sensitive "
                     "attributes was not measured.")
    elif ctx.data.sensitive_attributes and reliance.proxy_groups(
            ctx.table(reliance.PROXIES), ev.groups, ctx.data.feature_names) is None:
        notes.append("The fairness suite reported no proxy table, so reliance on proxies was not measured.")
    return notes
