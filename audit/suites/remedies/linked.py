"""Findings of the pillar suites linked to the remedy that targets them and what it costs.

The fairness, robustness and privacy suites' figures are read through declared `reads` (they run first);
each is paired with the remedy aimed at it and the change that remedy made here, on this suite's rows.
Suites never judge, so every finding is listed; the policy's verdict on it is in the scorecard's checks.
"""

from __future__ import annotations

from audit.suite import Output, SuiteContext
from audit.suites.remedies.comparison import Pillars
from audit.suites.remedies.paired import Samples
from audit.suites.remedies.tradeoff import cell
from audit.types import Measurement, Table

FAIRNESS_METRICS = ("dp_difference", "equalized_odds_difference")
READS: tuple[Output, ...] = (
    *(Output("fairness", f"{metric}[*]") for metric in FAIRNESS_METRICS),
    Output("robustness", "robust_accuracy[*]"),
    Output("privacy", "membership_auc[*]"),
)


def _row(finding: Measurement, suite: str, remedy: str, after: Samples | None, before: Samples | None,
         higher_is_better: bool, found: dict[str, Pillars]) -> tuple:
    p = found[remedy]
    return (f"{suite}.{finding.name}", round(finding.value, 4), remedy, cell(after, before, higher_is_better),
            cell(p.accuracy, found["original"].accuracy, True))


def linked_table(ctx: SuiteContext, found: dict[str, Pillars], robust_key: str) -> Table | None:
    base, rows = found["original"], []
    if "fairness_constrained" in found:
        for metric in FAIRNESS_METRICS:
            for m in ctx.measurements(Output("fairness", f"{metric}[*]")):
                attribute = m.name[len(metric) + 1 : -1]
                if attribute in found["fairness_constrained"].gaps:
                    rows.append(_row(m, "fairness", "fairness_constrained",
                                     found["fairness_constrained"].gaps[attribute].samples[metric],
                                     base.gaps[attribute].samples[metric], False, found))
    if "adversarial_training" in found:
        for m in ctx.measurements(Output("robustness", "robust_accuracy[*]")):
            if m.name == f"robust_accuracy[{robust_key}]":
                rows.append(_row(m, "robustness", "adversarial_training", found["adversarial_training"].robust,
                                 base.robust, True, found))
    if "dp_sgd" in found:
        for m in ctx.measurements(Output("privacy", "membership_auc[*]")):
            rows.append(_row(m, "privacy", "dp_sgd", found["dp_sgd"].membership_auc, base.membership_auc, False,
                             found))
    if not rows:
        return None
    return Table("remedy_for_each_finding", "What fixing each audited finding costs",
                 ("finding", "audited value", "remedy", "the remedy's effect here (change [95% CI])",
                  "its accuracy (change [95% CI])"), tuple(rows),
                 caption="Findings of the fairness, robustness and privacy suites beside the remedy aimed at them, "
                         "re-measured by this suite on its own rows (membership by the loss attack, not LiRA). The "
                         "scorecard's checks say which findings fail the policy.")
