"""Each variant's pillars and their paired change from the baseline (the original model), as `Measurement`s.

Names: `<variant>.<figure>` (e.g. `adversarial_training.robust_accuracy_gain[linf,eps=0.1]`,
`dp_sgd.membership_auc_change[loss]`), so the policy can gate any remedy's figure by pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.stats import clopper_pearson, derive_seed
from audit.suites.privacy.epsilon import epsilon_lower_bound
from audit.suites.privacy.roc import low_fpr_insufficient, roc_metrics
from audit.suites.remedies import paired
from audit.suites.remedies.paired import GroupGaps, Samples
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.reaudit import AuditRows, Evidence
from audit.types import Measurement

LOW_FPR = 0.01
_SALT_AUDIT, _SALT_ATTACK, _SALT_MEMBERS, _SALT_EPS_SPLIT = 71, 72, 73, 74


@dataclass(frozen=True, eq=False)
class Weights:
    """One set of resample multiplicities per row set, shared by every variant."""

    audit: np.ndarray
    attack: np.ndarray
    members: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Pillars:
    """One variant's figures, each as point + bootstrap samples where a bootstrap applies."""

    name: str
    accuracy: Samples
    gaps: dict[str, GroupGaps]  # attribute -> gaps
    robust: Samples
    membership_auc: Samples | None
    tpr_low_fpr: float | None
    epsilon_lb: float | None
    epsilon_details: dict = field(default_factory=dict)
    rows_per_s: float = float("nan")


def shared_weights(rows: AuditRows, resamples: int, seed: int) -> Weights:
    members = rows.membership
    return Weights(
        audit=paired.weights(len(rows.y_test), resamples, derive_seed(seed, _SALT_AUDIT)),
        attack=paired.weights(len(rows.attack_rows), resamples, derive_seed(seed, _SALT_ATTACK)),
        # integer multiplicities: the AUC's exact integer path, half the time of float weights, same values
        members=None if members is None else paired.weights(len(members.labels), resamples,
                                                            derive_seed(seed, _SALT_MEMBERS), np.int32),
    )


def pillars(ev: Evidence, rows: AuditRows, w: Weights, params: RemediesParams, seed: int) -> Pillars:
    correct = (ev.pred == rows.y_test).astype(np.float64)
    gaps = {}
    if rows.binary:
        gaps = {a: paired.group_gaps(rows.y_test, ev.pred, rows.sensitive[a], rows.positive, 2, w.audit,
                                     params.min_group_size) for a in rows.sensitive.columns}
    auc = tpr = eps = None
    eps_details: dict = {}
    if rows.membership is not None and ev.member_scores is not None:
        labels = rows.membership.labels
        auc = paired.auc_samples(ev.member_scores, labels == 1, w.members)
        tpr = roc_metrics(ev.member_scores, labels, (LOW_FPR,)).tpr_at[0]
        bound = epsilon_lower_bound(ev.member_scores, labels, np.random.default_rng([seed, _SALT_EPS_SPLIT]),
                                    params.dp_delta)
        eps = bound.value
        eps_details = {"tpr": bound.tpr, "fpr": bound.fpr, "threshold": bound.threshold,
                       "max_demonstrable": bound.max_demonstrable, "delta": bound.delta,
                       "evaluation_members": bound.n_members, "evaluation_nonmembers": bound.n_nonmembers}
    return Pillars(ev.name, paired.mean_samples(correct, w.audit), gaps,
                   paired.mean_samples(ev.robust_correct.astype(np.float64), w.attack), auc, tpr, eps, eps_details,
                   ev.rows_per_s)


def _m(variant: str, figure: str, s: Samples | float, higher: bool | None, n: int, text: str,
       details: dict | None = None, insufficient: str | None = None, ci: tuple | None = None) -> Measurement:
    value = s.point if isinstance(s, Samples) else float(s)
    interval = s.ci if isinstance(s, Samples) else ci
    return Measurement(f"{variant}.{figure}", value, interval, higher, n, text, details or {}, insufficient)


def variant_measurements(p: Pillars, ev: Evidence, rows: AuditRows, params: RemediesParams) -> list[Measurement]:
    """The variant's own figures (not compared)."""
    v, n = p.name, len(rows.y_test)
    k, n_attack = int(ev.robust_correct.sum()), len(ev.robust_correct)
    out = [
        _m(v, "accuracy", p.accuracy, True, n, f"Share of test rows the {v} model classifies correctly."),
        _m(v, f"robust_accuracy[{rows.robust_key}]", k / max(n_attack, 1), True, n_attack,
           f"Share of attacked rows the {v} model still classifies correctly under {rows.robust_words}.",
           ci=clopper_pearson(k, n_attack)),
        _m(v, "parameters", ev.variant.parameters, None, 1, f"Parameters of the {v} model."),
        _m(v, "trainable_parameters", ev.variant.trainable_parameters, None, 1,
           f"Parameters trained when the {v} model was made."),
        _m(v, f"throughput_rows_per_s[batch={rows.throughput_batch}]", p.rows_per_s, True, 1,
           f"Rows per second the {v} model predicts in batches of {rows.throughput_batch} (median call, one CPU "
           "thread; timing varies between runs).", {"cpu_threads": 1}),
    ]
    if np.isfinite(ev.variant.training_s):
        reused = " It was reused from the earlier run that trained it: these are that run's seconds." \
            if ev.variant.details.get("reused_training") else ""
        out.append(_m(v, "training_seconds", ev.variant.training_s, False, 1,
                      f"Wall-clock seconds spent training the {v} model on this machine (varies between runs).{reused}",
                      {"reused_training": bool(ev.variant.details.get("reused_training"))}))
    for attribute, gaps in p.gaps.items():
        for metric, samples in gaps.samples.items():
            out.append(_m(v, f"{metric}[{attribute}]", samples, False, n,
                          f"{metric.replace('_', ' ').capitalize()} between '{attribute}' groups for the {v} model "
                          "(fairlearn's definition).", insufficient=gaps.insufficient[metric]))
    out += _membership(p, rows, v)
    return out


def _membership(p: Pillars, rows: AuditRows, v: str) -> list[Measurement]:
    if p.membership_auc is None or rows.membership is None:
        return []
    n = len(rows.membership.labels)
    n_non = int((rows.membership.labels == 0).sum())
    detail = {"attack": "loss threshold (Yeom et al. 2018)", "members": n - n_non, "non_members": n_non}
    return [
        _m(v, "membership_auc[loss]", p.membership_auc, False, n,
           f"How well the loss-threshold attack tells the {v} model's training rows from unseen rows (0.5: guessing).",
           detail),
        _m(v, f"membership_tpr[loss,fpr={LOW_FPR:g}]", float(p.tpr_low_fpr), False, n,
           f"Share of training rows the loss attack finds in the {v} model at a {LOW_FPR:.0%} false-positive rate.",
           detail, low_fpr_insufficient(LOW_FPR, n_non)),
        _m(v, "epsilon_lower_bound[loss]", float(p.epsilon_lb), False, n,
           f"With 95% confidence, no differential-privacy guarantee below this ε can hold for the {v} model "
           "(Jagielski et al. 2020, from the loss attack; threshold chosen on half the rows, bound on the other).",
           {**detail, **p.epsilon_details}),
    ]


def change_measurements(p: Pillars, base: Pillars, rows: AuditRows, params: RemediesParams) -> list[Measurement]:
    """The variant minus the original, paired on the same rows and resamples."""
    v, n = p.name, len(rows.y_test)
    how = {"compared_with": base.name, "bootstrap_resamples": params.bootstrap_resamples, "paired": True}
    out = [
        _m(v, "accuracy_change", p.accuracy.minus(base.accuracy), True, n,
           f"Accuracy of the {v} model minus the {base.name} model's on the same test rows (negative: it costs "
           "accuracy).", how),
        _m(v, f"robust_accuracy_gain[{rows.robust_key}]", p.robust.minus(base.robust), True,
           len(rows.attack_rows), f"Robust accuracy under {rows.robust_words} of the {v} model minus the "
           f"{base.name} model's, on the same rows with the same random draws (negative: less robust).", how),
        _m(v, "throughput_ratio", p.rows_per_s / base.rows_per_s, True, 1,
           f"Throughput of the {v} model over the {base.name} model's (above 1: faster; timing varies between runs).",
           {"batch": rows.throughput_batch}),
    ]
    for attribute, gaps in p.gaps.items():
        for metric, samples in gaps.samples.items():
            out.append(_m(v, f"{metric}_change[{attribute}]", samples.minus(base.gaps[attribute].samples[metric]),
                          False, n, f"Change in the {metric.replace('_', ' ')} between '{attribute}' groups, {v} "
                          f"minus the {base.name} model (positive: less fair).", how, gaps.insufficient[metric]))
    if p.membership_auc is not None and base.membership_auc is not None and rows.membership is not None:
        out.append(_m(v, "membership_auc_change[loss]", p.membership_auc.minus(base.membership_auc), False,
                      len(rows.membership.labels), f"Membership AUC of the {v} model minus the {base.name} model's "
                      "on the same members and non-members (positive: leaks more).", how))
    return out


def fairness_drift(p: Pillars, base: Pillars, n_rows: int, params: RemediesParams) -> list[Measurement]:
    """Per attribute: the larger increase of the demographic-parity and equalized-odds gaps (Hooker et al. 2020)."""
    out = []
    for attribute, gaps in p.gaps.items():
        dp = gaps.samples["dp_difference"].minus(base.gaps[attribute].samples["dp_difference"])
        eo = gaps.samples["equalized_odds_difference"].minus(base.gaps[attribute].samples["equalized_odds_difference"])
        worst = Samples(np.fmax(dp.values, eo.values))
        reason = gaps.insufficient["equalized_odds_difference"]
        out.append(_m(p.name, f"fairness_drift[{attribute}]", worst, False, n_rows,
                      f"Largest increase in the demographic-parity or equalized-odds gap between '{attribute}' groups "
                      f"when the original is replaced by the {p.name} model (positive: less fair).",
                      {"bootstrap_resamples": params.bootstrap_resamples}, reason))
    return out
