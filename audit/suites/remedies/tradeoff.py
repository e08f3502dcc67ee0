"""The trade-off view: one table of variants × pillars, a chart per pair of pillars (data only)."""

from __future__ import annotations

import math

from audit.suites.remedies.comparison import Pillars
from audit.suites.remedies.paired import Samples, excludes_zero
from audit.suites.remedies.variant import ORIGINAL, TrainedVariant
from audit.types import Chart, Series, Table


def _fmt(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4f}"


def cell(value: Samples | None, base: Samples | None, higher_is_better: bool) -> str:
    """"0.8495 (+0.0175 [+0.0110, +0.0240], better)": better/worse only when the paired CI excludes zero."""
    if value is None:
        return "n/a"
    if base is None:
        return _fmt(value.point)
    change = value.minus(base)
    lo, hi = change.ci
    mark = ""
    if excludes_zero((lo, hi)):
        mark = ", better" if (change.point > 0) == higher_is_better else ", worse"
    return f"{_fmt(value.point)} ({change.point:+.4f} [{lo:+.4f}, {hi:+.4f}]{mark})"


def _gap(p: Pillars, attribute: str, metric: str) -> Samples | None:
    gaps = p.gaps.get(attribute)
    return None if gaps is None else gaps.samples[metric]


def tradeoff_table(found: list[Pillars], variants: list[TrainedVariant], attribute: str, metric: str,
                   robust_key: str) -> Table:
    base = found[0]
    rows = []
    for p, v in zip(found, variants, strict=True):
        other = p is not base
        rows.append((
            p.name,
            cell(p.accuracy, base.accuracy if other else None, True),
            cell(_gap(p, attribute, metric), _gap(base, attribute, metric) if other else None, False),
            cell(_gap(p, attribute, "accuracy_gap"), _gap(base, attribute, "accuracy_gap") if other else None, False),
            cell(p.robust, base.robust if other else None, True),
            cell(p.membership_auc, base.membership_auc if other else None, False),
            _fmt(p.epsilon_lb) if p.epsilon_lb is not None else "n/a",
            f"{p.rows_per_s / base.rows_per_s:.2f}x" if other else f"{p.rows_per_s:,.0f} rows/s",
            f"{v.trainable_parameters:,} / {v.parameters:,}",
            "not retrained" if not math.isfinite(v.training_s) else f"{v.training_s:.1f}",
            v.how,
        ))
    return Table(
        "tradeoffs", "What each remedy costs: every pillar re-audited on the same rows as the original",
        ("variant", "accuracy", f"{metric}[{attribute or 'no sensitive attribute'}]",
         f"accuracy_gap[{attribute or 'no sensitive attribute'}]",
         f"robust_accuracy[{robust_key}]", "membership_auc[loss]", "epsilon_lower_bound[loss]",
         "throughput", "trainable / parameters", "training_s", "how"),
        tuple(rows),
        caption="In brackets: the variant minus the original with a paired 95% bootstrap CI (the same resamples of "
                "the same rows for both). 'better' / 'worse' only where that CI excludes zero. Throughput and "
                "training time vary between runs.")


def fairness_table(found: list[Pillars]) -> Table | None:
    base = found[0]
    rows = []
    for p in found[1:]:
        for attribute, gaps in p.gaps.items():
            for metric, samples in gaps.samples.items():
                rows.append((p.name, attribute, metric, _fmt(base.gaps[attribute].samples[metric].point),
                             cell(samples, base.gaps[attribute].samples[metric], False),
                             gaps.insufficient[metric] or ""))
    if not rows:
        return None
    return Table("fairness_by_remedy", "Group gaps of every remedy against the original (fairlearn definitions)",
                 ("variant", "attribute", "metric", "original", "variant (change [95% CI])", "insufficient"),
                 tuple(rows), caption="Positive changes widen a gap (less fair).")


def _scatter(chart_id: str, title: str, found: list[Pillars], x_of, y_of, x_label: str, y_label: str,
             caption: str) -> Chart:
    series = []
    for p in found:
        x, y = x_of(p), y_of(p)
        if x is None or y is None:
            continue
        lo, hi = y.ci
        series.append(Series(p.name, (round(x.point, 6),), (round(y.point, 6),), (round(lo, 6),), (round(hi, 6),)))
    return Chart(chart_id, title, "scatter", x_label, y_label, series=tuple(series), caption=caption)


def charts(found: list[Pillars], attribute: str, metric: str, robust_words: str) -> list[Chart]:
    out = [
        _scatter("accuracy_vs_disparity", f"Accuracy vs {metric}[{attribute}]", found, lambda p: p.accuracy,
                 lambda p: _gap(p, attribute, metric), "accuracy", f"{metric}[{attribute}]",
                 "One point per variant; bars: 95% bootstrap CI of the gap. Down and right is better."),
        _scatter("accuracy_vs_worst_group_gap", f"Accuracy vs worst-group accuracy gap ({attribute})", found,
                 lambda p: p.accuracy, lambda p: _gap(p, attribute, "accuracy_gap"), "accuracy",
                 f"accuracy_gap[{attribute}]", "Best minus worst served group's accuracy; down and right is better."),
        _scatter("robust_accuracy_vs_membership_auc", "Robust accuracy vs membership AUC", found,
                 lambda p: p.robust, lambda p: p.membership_auc, f"robust accuracy ({robust_words})",
                 "membership AUC (loss attack)",
                 "Robust models tend to leak more membership (Song et al. 2019); down and right is better."),
    ]
    return [c for c in out if c.series]


def variant_names(found: list[Pillars]) -> list[str]:
    return [p.name for p in found if p.name != ORIGINAL]
