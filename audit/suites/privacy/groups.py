"""Membership leakage by sensitive group.

Advantage = TPR − FPR within the group at ONE threshold, the attack's best over all rows; re-optimising
the threshold per group would inflate small groups' figures with noise. AUC per group goes in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats import percentile_ci
from audit.suites.privacy.roc import RocCurve, bootstrap_roc_cis, roc_metrics, stratified_counts
from audit.types import Measurement, Table


@dataclass(frozen=True)
class GroupLeak:
    attribute: str
    group: str
    n_members: int
    n_nonmembers: int
    advantage: float
    advantage_ci: tuple[float, float]
    auc: float
    auc_ci: tuple[float, float]
    insufficient_reason: str | None


def best_threshold(curve: RocCurve) -> float:
    return float(curve.thresholds[int(np.argmax(curve.tpr - curve.fpr))])


def _flag_rates(counts: np.ndarray, side: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Each resample's share of the `side` rows flagged: its drawn flagged rows over the side's size."""
    return counts[:, np.flatnonzero(side & flagged)].sum(axis=1) / side.sum()


def _group_leak(attribute: str, group: str, scores: np.ndarray, labels: np.ndarray, threshold: float,
                min_per_side: int, resamples: int, seed: int) -> GroupLeak:
    flagged = scores >= threshold
    members, nonmembers = flagged[labels == 1], flagged[labels == 0]
    n_m, n_n = members.size, nonmembers.size
    if min(n_m, n_n) < 2:
        nan = float("nan")
        return GroupLeak(attribute, group, n_m, n_n, nan, (nan, nan), nan, (nan, nan),
                         f"only {n_m} members and {n_n} non-members in this group")
    advantage = float(members.mean() - nonmembers.mean())
    # The AUC's stratified draws (members by `seed`, non-members by seed + 1), read as counts per row
    counts = stratified_counts(labels, resamples, seed)
    diffs = _flag_rates(counts, labels == 1, flagged) - _flag_rates(counts, labels == 0, flagged)
    auc_ci = bootstrap_roc_cis(scores, labels, resamples, seed, ())["auc"]
    reason = None
    if min(n_m, n_n) < min_per_side:
        reason = f"only {n_m} members and {n_n} non-members in this group; at least {min_per_side} of each needed"
    return GroupLeak(attribute, group, n_m, n_n, advantage, percentile_ci(diffs),
                     roc_metrics(scores, labels, ()).auc, auc_ci, reason)


def group_leakage(scores: np.ndarray, labels: np.ndarray, sensitive: dict[str, np.ndarray], threshold: float,
                  min_per_side: int, resamples: int, seed: int) -> list[GroupLeak]:
    leaks = []
    for attribute, values in sensitive.items():
        values = values.astype(str)
        for group in sorted(set(values.tolist())):
            rows = values == group
            leaks.append(_group_leak(attribute, group, scores[rows], labels[rows], threshold, min_per_side,
                                     resamples, seed))
    return leaks


def group_measurements(attack_key: str, attack_title: str, threshold: float,
                       leaks: list[GroupLeak]) -> list[Measurement]:
    return [
        Measurement(
            f"membership_advantage[{attack_key},{g.attribute}={g.group}]", g.advantage, g.advantage_ci, False,
            g.n_members + g.n_nonmembers,
            f"For people with {g.attribute} = {g.group}: share of training rows the {attack_title} attack flags "
            "minus the share of unseen rows it flags (0 means no leakage).",
            {"attack": attack_key, "threshold": threshold, "members": g.n_members, "non_members": g.n_nonmembers,
             "auc": g.auc, "auc_ci": list(g.auc_ci), "threshold_rule": "best TPR - FPR over all rows"},
            insufficient_reason=g.insufficient_reason,
        )
        for g in leaks
    ]


def group_table(attack_title: str, leaks: list[GroupLeak]) -> Table:
    rows = tuple(
        (g.attribute, g.group, g.n_members, g.n_nonmembers, f"{g.advantage:.3f} [{g.advantage_ci[0]:.3f}, "
         f"{g.advantage_ci[1]:.3f}]", f"{g.auc:.3f} [{g.auc_ci[0]:.3f}, {g.auc_ci[1]:.3f}]")
        for g in leaks
    )
    return Table(
        id="privacy-groups", title=f"Membership leakage by group ({attack_title})",
        columns=("Attribute", "Group", "Members", "Non-members", "Advantage [95% CI]", "AUC [95% CI]"),
        rows=rows, caption="Advantage = TPR − FPR at the attack's best threshold over all rows.",
    )
