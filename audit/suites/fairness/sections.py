"""The flip-test, proxy and mitigation parts of the report: measurements, tables and plain-language notes."""

from __future__ import annotations

import numpy as np

from audit.data.types import Dataset
from audit.models.types import ModelUnderAudit
from audit.stats import clopper_pearson, percentile_ci
from audit.suite import SuiteOutput
from audit.suites.fairness.counterfactual import FlipResult, flip_test, flippable_values
from audit.suites.fairness.mitigation import CONSTRAINTS, SCORE_GRID, BinaryOutcomes, MitigationOutcome, preview
from audit.suites.fairness.params import FairnessParams
from audit.suites.fairness.pooling import pool_rare_values
from audit.suites.fairness.proxies import ProxyResult, candidate_features, detect_proxies, stratified_halves
from audit.types import Measurement, Table, ValidityCheck


def flip_section(model: ModelUnderAudit, data: Dataset, decisions: np.ndarray, max_values: int,
                 max_categories: int) -> SuiteOutput:
    """`decisions`: the model's predicted class for every test row, unchanged inputs."""
    specs = [s for s in data.features if s.sensitive] if data.input_kind == "tabular" else []
    if not specs:
        return SuiteOutput(notes=("Counterfactual flip test not run: no sensitive attribute is a model input, so the "
                                  "model cannot use one directly (the proxy check covers indirect use).",))
    measurements, validity, notes, rows = [], [], [], []
    for spec in specs:
        values, reason = flippable_values(spec, data.test.x, max_values, max_categories)
        if reason:
            notes.append(f"Flip test skipped for {reason}")
            continue
        result = flip_test(model, data.test.x, decisions, spec, values, data.positive_class)
        measurements.append(_flip_measurement(result, values))
        validity.append(_encoding_check(spec.name, result.encoding_valid))
        rows.extend(_flip_rows(result))
        notes.append(_flip_note(result, data.class_names[data.positive_class]))
    table = Table("flip_test", "Counterfactual flip test", ("feature", "from", "to", "n", "flipped", "flip_rate",
                                                            "became_favourable"), tuple(rows),
                  "Each row: people whose feature has value `from`, with it set to `to` and every other input kept; "
                  "`flipped` decisions changed, `became_favourable` of them changed to the favourable outcome.")
    return SuiteOutput(measurements=tuple(measurements), tables=(table,) if rows else (), validity=tuple(validity),
                       notes=tuple(notes))


def _encoding_check(feature: str, valid: bool) -> ValidityCheck:
    detail = ("every row encodes exactly one value of the flipped feature" if valid else
              "some rows do not encode exactly one value (e.g. scaled one-hot columns), so the swapped inputs are "
              "not valid counterfactuals")
    return ValidityCheck(f"flip_encoding[{feature}]", valid, detail)


def _flip_measurement(result: FlipResult, values: tuple[str, ...]) -> Measurement:
    return Measurement(
        name=f"flip_rate[{result.feature}]", value=result.flipped_any / result.n,
        ci=clopper_pearson(result.flipped_any, result.n), higher_is_better=False, n=result.n,
        description=f"Share of decisions that change when only {result.feature} is changed to another value.",
        details={"values": list(values), "flipped": result.flipped_any, "ci_method": "Clopper-Pearson exact"},
    )


def _flip_rows(result: FlipResult) -> list[tuple]:
    rows = [(result.feature, c.from_value, c.to_value, c.n, c.flipped, round(c.flipped / c.n, 4) if c.n else None,
             c.became_favourable) for c in result.cells]
    rows += [(result.feature, value, "any other", n, k, round(k / n, 4) if n else None, None)
             for value, n, k in result.flipped_any_by_group]
    return rows


def _flip_note(result: FlipResult, favourable: str) -> str:
    rate = result.flipped_any / result.n
    lo, hi = clopper_pearson(result.flipped_any, result.n)
    text = (f"Changing {result.feature} alone, everything else fixed, changes {result.flipped_any} of {result.n} "
            f"decisions ({rate:.1%}, 95% CI {lo:.1%}-{hi:.1%}).")
    worst = max(result.cells, key=lambda c: c.flipped, default=None)
    if worst is not None and worst.flipped:
        text += (f" Most changes come from setting {worst.from_value} to {worst.to_value}: {worst.flipped} of "
                 f"{worst.n} decisions change, {worst.became_favourable} of them to '{favourable}'.")
    return text


def proxy_section(data: Dataset, columns: dict[str, np.ndarray], rng: np.random.Generator,
                  params: FairnessParams) -> SuiteOutput:
    features = candidate_features(data)
    if data.input_kind != "tabular" or not features:
        return SuiteOutput(notes=("Proxy check not run: it needs tabular, non-sensitive model inputs.",))
    # float32, as the model reads its inputs: the proxy classifier fits in about 60% of the float64 time; its held-out
    # AUROC moves by under a thousandth (lbfgs stops at its tolerance), tested against scikit-learn in float64
    x = data.test.x.numpy().astype(np.float32)
    results, pooling_notes = [], []
    min_rows = max(params.min_group_size, 2)  # a class must fall on both sides of the fit / held-out split
    for name, labels in columns.items():
        pooled = pool_rare_values(labels, min_rows, params.proxy_max_classes)
        if pooled.classes < 2:
            pooling_notes.append(f"Proxy check not run for {name}: none of its {len(np.unique(labels))} values has "
                                 f"{min_rows} rows, so there are no groups to tell apart.")
            continue
        pooling_notes.append(pooled.note(name, min_rows))
        results.append(detect_proxies(x, pooled.labels, name, features, rng, params.resamples, params.proxy_max_rows))
    rows = tuple((r.attribute, feature, round(share, 4))
                 for r in results for feature, share in _proxies_found(r, params))
    caption = (f"Listed for attributes the non-sensitive inputs predict with AUROC >= {params.proxy_min_auroc} "
               "(lower end of the 95% CI): "
               f"their features with at least {params.proxy_min_share:.0%} of a logistic regression's standardised "
               f"coefficient mass (one-hot columns summed back to their feature), at most {params.proxy_top_k} each.")
    table = Table("proxies", "Proxies: features that predict a sensitive attribute",
                  ("attribute", "feature", "importance"), rows, caption)
    return SuiteOutput(measurements=tuple(_proxy_measurement(r) for r in results), tables=(table,),
                       notes=tuple(n for n in pooling_notes if n) + tuple(_proxy_note(r, params) for r in results))


def _proxies_found(r: ProxyResult, params: FairnessParams) -> list[tuple[str, float]]:
    """Features that carry the attribute, if the inputs predict it better than `proxy_min_auroc` (95% CI low end)."""
    if not percentile_ci(r.auroc_samples)[0] >= params.proxy_min_auroc:
        return []
    return [(f, s) for f, s in r.importance[: params.proxy_top_k] if s >= params.proxy_min_share]


def _proxy_measurement(r: ProxyResult) -> Measurement:
    return Measurement(
        name=f"proxy_auroc[{r.attribute}]", value=r.auroc, ci=percentile_ci(r.auroc_samples), higher_is_better=False,
        n=r.n_eval, description=f"How well the non-sensitive inputs predict {r.attribute} on held-out rows "
                                "(0.5 = no better than chance, 1.0 = perfectly).",
        details={"classifier": "StandardScaler + LogisticRegression", "n_fit": r.n_fit, "n_eval": r.n_eval,
                 "resamples": int(len(r.auroc_samples)), "auroc": "macro one-vs-rest when more than two groups",
                 "top_features": [[f, round(s, 4)] for f, s in r.importance[:5]]},
    )


def _proxy_note(r: ProxyResult, params: FairnessParams) -> str:
    found = _proxies_found(r, params)
    head = f"The non-sensitive inputs predict {r.attribute} with AUROC {r.auroc:.2f} (0.5 = chance)"
    if not found:
        return f"{head}: no feature stands out as a proxy for it."
    top = ", ".join(f"{f} ({s:.0%})" for f, s in found)
    return (f"{head}. Proxies: {top}. A model can treat {r.attribute} groups differently through such features "
            f"even without seeing {r.attribute}.")


def mitigation_section(model_outcomes: BinaryOutcomes, columns: dict[str, np.ndarray], rng: np.random.Generator,
                       seed: int) -> SuiteOutput:
    outcomes, notes = [], []
    for name, groups in columns.items():
        halves = stratified_halves(groups, rng, max_rows=len(groups))  # one split per attribute: same "before"
        for constraint in CONSTRAINTS:
            try:
                outcomes.append(preview(model_outcomes, groups, name, constraint, halves, seed))
            except ValueError as exc:  # fairlearn rejects degenerate groups (e.g. one label only)
                notes.append(f"Mitigation preview for {name} ({constraint}) could not be fitted: {exc}")
    rows = tuple((o.attribute, o.constraint, o.n_eval, round(o.accuracy_before, 4), round(o.accuracy_after, 4),
                  round(o.dp_difference_before, 4), round(o.dp_difference_after, 4),
                  round(o.eo_difference_before, 4), round(o.eo_difference_after, 4)) for o in outcomes)
    table = Table("mitigation", "Mitigation preview: group-specific thresholds (fairlearn ThresholdOptimizer)",
                  ("attribute", "constraint", "n_eval", "accuracy_before", "accuracy_after", "dp_difference_before",
                   "dp_difference_after", "eo_difference_before", "eo_difference_after"), rows,
                  "Thresholds fitted on half of the audit rows (scores on a 0.001 grid), evaluated on the other half; "
                  "randomised thresholds seeded. A preview of what fixing would cost, not a fix.")
    measurements = [m for o in outcomes for m in _mitigation_measurements(o)]
    notes += [_mitigation_note(o) for o in outcomes]
    return SuiteOutput(measurements=tuple(measurements), tables=(table,) if rows else (), notes=tuple(notes))


def _mitigation_measurements(o: MitigationOutcome) -> tuple[Measurement, Measurement]:
    key = f"{o.attribute},{o.constraint}"
    after = o.dp_difference_after if o.constraint == "demographic_parity" else o.eo_difference_after
    details = {"n_fit": o.n_fit, "n_eval": o.n_eval, "method": "fairlearn ThresholdOptimizer(prefit=True)",
               "score_grid": SCORE_GRID}
    return (
        Measurement(f"mitigation_accuracy_cost[{key}]", o.accuracy_cost, None, False, o.n_eval,
                    f"Accuracy lost if {o.attribute}-specific thresholds enforced {o.constraint.replace('_', ' ')}.",
                    details),
        Measurement(f"mitigated_disparity[{key}]", after, None, False, o.n_eval,
                    f"The {o.constraint.replace('_', ' ')} gap for {o.attribute} that would remain after that "
                    "threshold adjustment.", details),
    )


def _mitigation_note(o: MitigationOutcome) -> str:
    label = o.constraint.replace("_", " ")
    gap_before = o.dp_difference_before if o.constraint == "demographic_parity" else o.eo_difference_before
    gap_after = o.dp_difference_after if o.constraint == "demographic_parity" else o.eo_difference_after
    return (f"Enforcing {label} for {o.attribute} by group-specific thresholds would move its gap from "
            f"{gap_before:.3f} to {gap_after:.3f}, with accuracy going from {o.accuracy_before:.3f} to "
            f"{o.accuracy_after:.3f} on held-out rows.")
