"""Generalisation: training vs audit accuracy, and accuracy on the audit rows most unlike the training rows."""

from __future__ import annotations

import numpy as np

from audit.stats import wilson_interval
from audit.suite import SuiteOutput
from audit.suites.data.domain import DomainScores
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import share_difference
from audit.suites.data.sections import rounded
from audit.types import Measurement, Table

HEADLINE = ("generalisation_gap", "unlike_accuracy_gap")  # reported as insufficient when the part is skipped


def generalisation(train_correct: np.ndarray, audit_correct: np.ndarray, domain: DomainScores | None,
                   params: DataParams) -> SuiteOutput:
    k1, n1, k2, n2 = int(train_correct.sum()), train_correct.size, int(audit_correct.sum()), audit_correct.size
    gap, ci = share_difference(k1, n1, k2, n2)
    measurements = [Measurement(
        "generalisation_gap", gap, ci, False, n1 + n2,
        "Training accuracy minus audit accuracy (Newcombe 95% interval): how much of what the model learned "
        "holds only on the rows it was trained on.",
        {"train_accuracy": rounded(k1 / n1), "audit_accuracy": rounded(k2 / n2), "n_train": n1, "n_audit": n2},
        None if min(n1, n2) >= params.min_group_size else
        f"only {min(n1, n2)} rows in one split (minimum {params.min_group_size})",
    )]
    rows = [("training rows", n1, rounded(k1 / n1)), ("audit rows", n2, rounded(k2 / n2))]
    if domain is not None:
        unlike_ms, unlike_rows = _unlike(audit_correct, domain, params)
        measurements += unlike_ms
        rows += unlike_rows
    table = Table("generalisation", "Accuracy on training rows, audit rows, and audit rows unlike training",
                  ("rows", "count", "accuracy"), tuple(rows),
                  caption=f"'Unlike training': the {params.unlike_share:.0%} of scored audit rows the domain "
                          "classifier finds most audit-like.")
    return SuiteOutput(measurements=tuple(measurements), tables=(table,))


def _unlike(audit_correct: np.ndarray, domain: DomainScores, params: DataParams) -> tuple[list, list]:
    correct = audit_correct[domain.audit_rows]
    count = max(1, int(round(params.unlike_share * correct.size)))
    order = np.argsort(-domain.audit_scores, kind="stable")
    unlike = np.zeros(correct.size, bool)
    unlike[order[:count]] = True
    ku, nu = int(correct[unlike].sum()), int(unlike.sum())
    kr, nr = int(correct[~unlike].sum()), int((~unlike).sum())
    gap, ci = share_difference(kr, nr, ku, nu)
    reason = None if min(nu, nr) >= params.min_group_size else (
        f"only {min(nu, nr)} audit rows on one side (minimum {params.min_group_size})")
    details = {"unlike_rows": nu, "other_rows": nr, "unlike_share": params.unlike_share,
               "score_threshold": rounded(float(domain.audit_scores[order[count - 1]]))}
    measurements = [
        Measurement("accuracy_unlike_training", ku / nu, wilson_interval(ku, nu), True, nu,
                    "Accuracy on the audit rows the domain classifier finds most unlike the training rows "
                    "(95% Wilson interval).", details, reason),
        Measurement("unlike_accuracy_gap", gap, ci, False, nu + nr,
                    "Accuracy on the other audit rows minus accuracy on those most unlike training (Newcombe 95% "
                    "interval): a positive gap means the model degrades where the data moves away from training.",
                    details, reason),
    ]
    rows = [("audit rows unlike training", nu, rounded(ku / nu)), ("other scored audit rows", nr, rounded(kr / nr))]
    return measurements, rows
