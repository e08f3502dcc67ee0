"""Tables and charts of per-group results (renderers only draw these)."""

from __future__ import annotations

import numpy as np

from audit.stats import percentile_ci
from audit.suites.fairness.groups import INTERSECTION_SEP
from audit.suites.fairness.measures import AxisEstimate, group_shortfalls
from audit.types import Chart, Heatmap, Series, Table


def _r(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def _ci_text(samples: np.ndarray) -> str:
    lo, hi = percentile_ci(samples)
    return "n/a" if not np.isfinite(lo) else f"[{lo:.3f}, {hi:.3f}]"


def evidence(est: AxisEstimate, g: int, needs: tuple[str, ...], min_group_size: int, min_outcome_count: int) -> str:
    for need in needs:
        why = group_shortfalls(est.counts, need, min_group_size, min_outcome_count)[g]
        if why:
            return f"insufficient-evidence ({why})"
    return "ok"


def group_table(estimates: list[AxisEstimate], class_names: tuple[str, ...], binary: bool,
                min_group_size: int, min_outcome_count: int) -> Table:
    if binary:
        columns = ("attribute", "group", "n", "base_rate", "selection_rate", "selection_rate_ci", "impact_ratio",
                   "accuracy", "tpr", "fpr", "fnr", "precision", "evidence")
    else:
        columns = ("attribute", "group", "n", "accuracy", "accuracy_ci") + tuple(
            f"selection_rate[{c}]" for c in class_names) + ("evidence",)
    needs = ("rows", "positives", "negatives") if binary else ("rows",)
    rows = []
    for est in estimates:
        r, b = est.rates, est.boot_rates
        top = np.nanmax(r.selection_rate) if np.isfinite(r.selection_rate).any() else np.nan
        for g, label in enumerate(est.axis.labels):
            head = (est.axis.name, label, int(est.counts.n[g]))
            verdict = evidence(est, g, needs, min_group_size, min_outcome_count)
            if binary:
                impact = r.selection_rate[g] / top if top > 0 else np.nan
                body = (_r(r.base_rate[g]), _r(r.selection_rate[g]), _ci_text(b.selection_rate[:, g]), _r(impact),
                        _r(r.accuracy[g]), _r(r.tpr[g]), _r(r.fpr[g]), _r(r.fnr[g]), _r(r.precision[g]))
            else:
                body = (_r(r.accuracy[g]), _ci_text(b.accuracy[:, g])) + tuple(
                    _r(v) for v in r.selection_by_class[g])
            rows.append(head + body + (verdict,))
    caption = (f"Groups with fewer than {min_group_size} rows, or fewer than {min_outcome_count} favourable or "
               "unfavourable labels for the rates that need them, are marked insufficient-evidence; no gate passes "
               "on them. CIs are 95% percentile bootstrap intervals.")
    return Table("groups", "Outcomes by group", columns, tuple(rows), caption)


def _bar_series(labels: tuple[str, ...], point: list[np.ndarray], boot: list[np.ndarray]) -> tuple[Series, ...]:
    """One series per group; x indexes the metrics shown (so the legend names the groups)."""
    series = []
    for g, label in enumerate(labels):
        cis = [percentile_ci(b[:, g]) for b in boot]
        series.append(Series(label=label, x=tuple(float(i) for i in range(len(point))),
                             y=tuple(float(p[g]) for p in point),
                             lo=tuple(c[0] for c in cis), hi=tuple(c[1] for c in cis)))
    return tuple(series)


def group_charts(est: AxisEstimate, favourable: str, binary: bool) -> list[Chart]:
    name, labels, r, b = est.axis.name, est.axis.labels, est.rates, est.boot_rates
    if not binary:
        return [Chart(f"accuracy[{name}]", f"Accuracy by {name}", "bar", y_label="accuracy",
                      series=_bar_series(labels, [r.accuracy], [b.accuracy]),
                      caption="Bars: accuracy per group; error bars: 95% bootstrap CI.")]
    return [
        Chart(f"selection_rate[{name}]", f"Share predicted '{favourable}' by {name}", "bar",
              y_label="selection rate", series=_bar_series(labels, [r.selection_rate], [b.selection_rate]),
              caption="Bars: share of each group given the favourable decision; error bars: 95% bootstrap CI."),
        Chart(f"tpr_fpr[{name}]", f"True and false positive rates by {name}", "bar",
              y_label="rate", x_tick_labels=("true positive rate", "false positive rate"),
              series=_bar_series(labels, [r.tpr, r.fpr], [b.tpr, b.fpr]),
              caption="Equal opportunity asks for equal true positive rates; equalized odds for equal true and "
                      "false positive rates. Error bars: 95% bootstrap CI."),
    ]


def intersection_heatmap(est: AxisEstimate, binary: bool, min_group_size: int) -> Chart:
    """Rows: values of the first attribute; columns: values of the second; empty cells are None."""
    pairs = [label.split(INTERSECTION_SEP, 1) for label in est.axis.labels]
    row_labels = tuple(sorted({p[0] for p in pairs}))
    col_labels = tuple(sorted({p[1] for p in pairs}))
    metric = est.rates.selection_rate if binary else est.rates.accuracy
    cells = {tuple(p): g for g, p in enumerate(pairs)}
    values = tuple(
        tuple(_r(metric[cells[(a, c)]]) if (a, c) in cells else None for c in col_labels) for a in row_labels
    )
    what = "selection rate" if binary else "accuracy"
    small = [label for g, label in enumerate(est.axis.labels) if est.counts.n[g] < min_group_size]
    caption = (f"{what.capitalize()} for each combination of {est.axis.parts[0]} (rows) and "
               f"{est.axis.parts[1]} (columns).")
    if small:
        caption += f" Fewer than {min_group_size} rows (insufficient evidence): {', '.join(small)}."
    return Chart(f"intersection[{est.axis.name}]", f"{what.capitalize()} by {est.axis.name}", "heatmap",
                 x_label=est.axis.parts[1], y_label=est.axis.parts[0],
                 heatmap=Heatmap(row_labels, col_labels, values), caption=caption)
