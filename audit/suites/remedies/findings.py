"""Remedy-specific figures, self-checks and plain-language notes (what each remedy fixed and what it cost)."""

from __future__ import annotations

import math

from audit.suites.efficiency.reaudit import fairlearn_gaps
from audit.suites.remedies.comparison import Pillars
from audit.suites.remedies.paired import excludes_zero
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.reaudit import AuditRows, Evidence
from audit.suites.robustness.validity import attack_converged
from audit.types import Measurement, ValidityCheck

CONVERGENCE_TOLERANCE = 0.02  # accuracy points a stronger attack may take beyond the audited one


def dp_measurements(p: Pillars, ev: Evidence, params: RemediesParams) -> list[Measurement]:
    d = ev.variant.details
    return [Measurement(
        "dp_sgd.accountant_epsilon", float(d["accountant_epsilon"]), None, False, 1,
        f"ε the opacus {str(d['accountant']).upper()} accountant guarantees for the DP-SGD model at "
        f"δ={params.dp_delta:g} (target {params.dp_epsilon:g}); the measured lower bound must stay below it.",
        dict(d))]


def dp_validity(p: Pillars, ev: Evidence, params: RemediesParams) -> list[ValidityCheck]:
    accountant = float(ev.variant.details["accountant_epsilon"])
    checks = [ValidityCheck(
        "dp_sgd_reached_target", accountant <= params.dp_epsilon * 1.01,
        f"The accountant's ε after training is {accountant:.3f} for a target of {params.dp_epsilon:g}.")]
    if p.epsilon_lb is not None:
        lb = float(p.epsilon_lb)
        checks.append(ValidityCheck(
            "dp_sgd_lower_bound_below_accountant", lb <= accountant,
            f"The loss attack's 95%-confidence lower bound on ε is {lb:.3f}; the accountant guarantees ε ≤ "
            f"{accountant:.3f}. " + ("Consistent." if lb <= accountant else
                                     "A lower bound above a correct accountant's ε is impossible: the DP training or "
                                     "its accounting is wrong (e.g. rows reused outside Poisson sampling, noise not "
                                     "added, or the model evaluated is not the one trained), so the privacy figures "
                                     "of this remedy cannot be trusted.")))
    return checks


def distillation_measurements(p: Pillars, base: Pillars, ev: Evidence, original: Evidence) -> list[Measurement]:
    ratio = ev.variant.parameters / max(original.variant.parameters, 1)
    return [Measurement("distillation.parameter_ratio", ratio, None, False, 1,
                        "Parameters of the distilled student over the teacher's (below 1: smaller).",
                        {"student": ev.variant.parameters, "teacher": original.variant.parameters})]


def constrained_measurement(p: Pillars, base: Pillars, ev: Evidence, n_rows: int) -> list[Measurement]:
    attribute, constraint = ev.variant.details["attribute"], ev.variant.details["constraint"]
    metric = "dp_difference" if constraint == "demographic_parity" else "equalized_odds_difference"
    change = p.gaps[attribute].samples[metric].minus(base.gaps[attribute].samples[metric])
    return [Measurement(
        "fairness_constrained.constrained_gap_change", change.point, change.ci, False, n_rows,
        f"Change in the constrained gap ({metric} between '{attribute}' groups), fairness-constrained model minus "
        "the original, paired on the same rows (negative: the constraint narrowed it).",
        {"attribute": attribute, "metric": metric, "constraint": constraint, "method": ev.variant.details["method"]},
        p.gaps[attribute].insufficient[metric])]


def fairlearn_check(rows: AuditRows, original: Evidence, ev: Evidence, found: dict[str, Pillars],
                    attribute: str) -> ValidityCheck:
    """The gaps of the original and the constrained model recomputed with fairlearn on the same predictions."""
    worst = 0.0
    groups = rows.sensitive[attribute].astype(str)
    for e in (original, ev):
        theirs = fairlearn_gaps(rows.y_test, e.pred, groups, rows.positive)
        mine = found[e.name].gaps[attribute].samples
        worst = max(worst, abs(mine["dp_difference"].point - theirs.dp),
                    abs(mine["equalized_odds_difference"].point - theirs.eo))
    return ValidityCheck("fairness_matches_fairlearn", worst <= 1e-9,
                         f"Demographic-parity and equalized-odds gaps across '{attribute}' of the original and the "
                         f"fairness-constrained model recomputed with fairlearn differ by at most {worst:.2g}.")


def convergence_check(p: Pillars, stronger_correct: float, steps: int, attacked: int, rows: int) -> ValidityCheck:
    """`stronger_correct`: robust accuracy when each row counts as broken if either attack fools it (the stronger
    attack runs only on the `attacked` rows of `rows` the audited attack did not fool)."""
    check = attack_converged(p.robust.point, stronger_correct, CONVERGENCE_TOLERANCE,
                             f"Doubling PGD's steps to {2 * steps} and adding a restart against the adversarially "
                             f"trained model (run on the {attacked:,} of {rows:,} rows the audited attack did not "
                             "fool; a row either attack fools counts as broken)")
    return ValidityCheck(f"adversarial_training_{check.name}", check.passed, check.detail)


def notes(found: dict[str, Pillars], evidence: dict[str, Evidence], params: RemediesParams,
          skipped: list[str]) -> list[str]:
    base = found["original"]
    out = ["Changes are the remedy minus the original on the same rows, with paired 95% bootstrap CIs; * marks a CI "
           "that excludes zero."]
    if "adversarial_training" in found:
        p = found["adversarial_training"]
        gain = p.robust.minus(base.robust)
        out.append(f"Adversarial training: robust accuracy at ε={params.epsilon:g} {base.robust.point:.3f} → "
                   f"{p.robust.point:.3f} ({_signed(gain)}), accuracy {_signed(p.accuracy.minus(base.accuracy))}"
                   + _auc_text(p, base) + ".")
    if "dp_sgd" in found:
        p = found["dp_sgd"]
        accountant = float(evidence["dp_sgd"].variant.details["accountant_epsilon"])
        out.append(f"DP-SGD at ε = {accountant:.2f} by its accountant (target {params.dp_epsilon:g}, δ = "
                   f"{params.dp_delta:g}): accuracy {_signed(p.accuracy.minus(base.accuracy))}{_auc_text(p, base)}; "
                   f"measured ε lower bound {_number(p.epsilon_lb)} (original {_number(base.epsilon_lb)}).")
    if "distillation" in found:
        p = found["distillation"]
        drift = "; ".join(f"{a}: dp {_gap_change(p, base, a, 'dp_difference')}" for a in p.gaps)
        out.append(f"Distillation: accuracy {_signed(p.accuracy.minus(base.accuracy))}"
                   + (f"; fairness drift — {drift}." if drift else " (no sensitive attributes: no fairness drift)."))
    if "fairness_constrained" in found:
        p = found["fairness_constrained"]
        out.append(f"Fairness constraint: accuracy {_signed(p.accuracy.minus(base.accuracy))}; "
                   + "; ".join(f"{a}: dp {_gap_change(p, base, a, 'dp_difference')}, "
                               f"eo {_gap_change(p, base, a, 'equalized_odds_difference')}" for a in p.gaps) + ".")
    out.append("Membership figures here come from the loss-threshold attack on every variant (no shadow models), "
               "so they are comparable across variants but weaker than the privacy suite's LiRA.")
    out += skipped
    return out


def _signed(change) -> str:  # noqa: ANN001
    lo, hi = change.ci
    mark = " *" if excludes_zero((lo, hi)) else ""
    if not math.isfinite(change.point):
        return "n/a"
    return f"{change.point:+.4f} [{lo:+.4f}, {hi:+.4f}]{mark}"


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _gap_change(p: Pillars, base: Pillars, attribute: str, metric: str) -> str:
    return _signed(p.gaps[attribute].samples[metric].minus(base.gaps[attribute].samples[metric]))


def _auc_text(p: Pillars, base: Pillars) -> str:
    if p.membership_auc is None or base.membership_auc is None:
        return ""
    return f", membership AUC {_signed(p.membership_auc.minus(base.membership_auc))}"
