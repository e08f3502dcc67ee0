"""Turns attack outcomes into measurements, the attacks table and the log-log ROC chart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.suites.privacy.attacks import AttackOutcome
from audit.suites.privacy.epsilon import EpsilonBound, epsilon_lower_bound
from audit.suites.privacy.roc import (
    LOW_FPRS,
    RocCurve,
    RocMetrics,
    bootstrap_roc_cis,
    log_grid_curve,
    low_fpr_insufficient,
    roc_curve,
    roc_metrics,
)
from audit.types import Chart, Measurement, Series, Table


@dataclass(frozen=True)
class AttackSummary:
    outcome: AttackOutcome
    metrics: RocMetrics
    cis: dict[str, tuple[float, float]]
    epsilon: EpsilonBound
    curve: RocCurve

    @property
    def n_nonmembers(self) -> int:
        return int((self.outcome.labels == 0).sum())


def summarise(outcome: AttackOutcome, resamples: int, seed: int, rng: np.random.Generator,
              delta: float) -> AttackSummary:
    return AttackSummary(
        outcome=outcome,
        metrics=roc_metrics(outcome.scores, outcome.labels, LOW_FPRS),
        cis=bootstrap_roc_cis(outcome.scores, outcome.labels, resamples, seed, LOW_FPRS),
        epsilon=epsilon_lower_bound(outcome.scores, outcome.labels, rng, delta),
        curve=roc_curve(outcome.scores, outcome.labels),
    )


def _fmt_fpr(fpr: float) -> str:
    return f"{fpr * 100:g}%"


def attack_measurements(s: AttackSummary, resamples: int) -> list[Measurement]:
    key, title, n = s.outcome.key, s.outcome.title, int(s.outcome.labels.size)
    details = {**s.outcome.details, "bootstrap_resamples": resamples, "members": n - s.n_nonmembers,
               "non_members": s.n_nonmembers}
    out = [
        Measurement(f"membership_auc[{key}]", s.metrics.auc, s.cis["auc"], False, n,
                    f"How well the {title} attack tells the model's training rows from rows it never saw "
                    "(0.5 is guessing, 1.0 is perfect).", details),
        Measurement(f"membership_balanced_accuracy[{key}]", s.metrics.balanced_accuracy, s.cis["balanced_accuracy"],
                    False, n, f"Share of training and unseen rows the {title} attack labels correctly at its best "
                    "threshold, chosen on these same rows so slightly optimistic (0.5 is guessing).",
                    {**details, "threshold": "best on the evaluation rows (maximises TPR - FPR)"}),
    ]
    for fpr, tpr in zip(s.metrics.fprs, s.metrics.tpr_at, strict=True):
        out.append(Measurement(
            f"membership_tpr[{key},fpr={fpr:g}]", tpr, s.cis[f"tpr@{fpr:g}"], False, n,
            f"Share of training rows the {title} attack identifies while wrongly flagging only {_fmt_fpr(fpr)} "
            f"of unseen rows (chance is {_fmt_fpr(fpr)}).",
            {**details, "fpr": fpr, "interpolation": "linear on the empirical ROC"},
            insufficient_reason=low_fpr_insufficient(fpr, s.n_nonmembers),
        ))
    out.append(epsilon_measurement(f"epsilon_lower_bound[{key}]", s))
    return out


def epsilon_measurement(name: str, s: AttackSummary) -> Measurement:
    e = s.epsilon
    return Measurement(
        name, e.value, None, False, e.n_members + e.n_nonmembers,
        f"With 95% confidence the {s.outcome.title} attack shows that no differential-privacy guarantee with "
        f"ε below this value (δ = {e.delta:g}) can hold for this model; 0 means no evidence against any claim.",
        {"attack": s.outcome.key, "delta": e.delta, "threshold": e.threshold, "tpr": e.tpr, "fpr": e.fpr,
         "tpr_lower_95": e.tpr_lo, "fpr_upper_95": e.fpr_hi, "members": e.n_members,
         "non_members": e.n_nonmembers, "max_demonstrable_epsilon": e.max_demonstrable,
         "method": "Jagielski et al. 2020: max(ln((TPR_lo - δ)/FPR_hi), ln((1 - FPR_hi - δ)/(1 - TPR_lo))), "
                   "Clopper-Pearson 95%; threshold chosen on a separate random half"},
    )


def _ci_text(value: float, ci: tuple[float, float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def attacks_table(summaries: list[AttackSummary]) -> Table:
    rows = []
    for s in summaries:
        m = s.metrics
        rows.append((
            s.outcome.title, _ci_text(m.auc, s.cis["auc"]), _ci_text(m.balanced_accuracy, s.cis["balanced_accuracy"]),
            *[f"{tpr:.4f}" for tpr in m.tpr_at], f"{s.epsilon.value:.2f}", int(s.outcome.labels.size),
        ))
    return Table(
        id="privacy-attacks", title="Membership inference attacks",
        columns=("Attack", "AUC [95% CI]", "Balanced accuracy [95% CI]",
                 *[f"TPR @ {_fmt_fpr(f)} FPR" for f in LOW_FPRS], "ε lower bound", "Rows"),
        rows=tuple(rows),
        caption="Members are training rows, non-members held-out rows, in equal numbers. Balanced accuracy is at "
                "the best threshold on the same rows. The ε bound holds with 95% confidence at δ = 1e-5.",
    )


def roc_chart(summaries: list[AttackSummary]) -> Chart:
    series = []
    for s in summaries:
        fpr, tpr = log_grid_curve(s.curve, s.n_nonmembers)
        series.append(Series(s.outcome.title, tuple(map(float, fpr)), tuple(map(float, tpr))))
    floor = min((1.0 / max(s.n_nonmembers, 1) for s in summaries), default=1e-3)
    chance = tuple(map(float, np.geomspace(floor, 1.0, 20)))
    series.append(Series("Chance", chance, chance))
    return Chart(
        id="privacy-roc", title="Membership inference ROC (log-log)", kind="line",
        x_label="False-positive rate (unseen rows flagged)", y_label="True-positive rate (training rows found)",
        series=tuple(series), log_x=True, log_y=True,
        caption="Curves above the diagonal at low false-positive rates mean individual training rows can be "
                "identified with confidence.",
    )
