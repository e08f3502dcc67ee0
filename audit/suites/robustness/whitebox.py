"""The gradient-based part of the audit: ε sweeps, DeepFool, category switches and the validity checks."""

from __future__ import annotations

import numpy as np
import torch

from audit.stats import bootstrap_mean_ci
from audit.suites.robustness import report, validity
from audit.suites.robustness.deepfool import deepfool
from audit.suites.robustness.evidence import outcome_columns
from audit.suites.robustness.findings import Findings
from audit.suites.robustness.sweep import AttackSetup, Outcome, blackbox_attack, pgd_attack, torch_attack
from audit.suites.robustness.tabular import categorical_search, feature_shift, one_hot_valid
from audit.suites.robustness.torch_pgd import PGDConfig
from audit.types import Measurement


def sweep_measurements(setup: AttackSetup, outcomes: list[Outcome], unit: str) -> list[Measurement]:
    is_image, clean = setup.is_image, setup.clean_correct
    out = []
    for o in outcomes:
        if o.attack == "worst-case":
            out.append(report.robust_accuracy(o, unit, is_image, variant=o.norm))
            out.append(report.success_rate(o, clean, unit, is_image))
        else:
            out.append(report.robust_accuracy(o, unit, is_image))
    return out


def _accuracy(o: Outcome) -> float:
    return float(o.correct.mean()) if o.n else float("nan")


def _find(outcomes: list[Outcome], attack: str, norm: str, eps: float) -> Outcome:
    return next(o for o in outcomes if o.attack == attack and o.norm == norm and o.eps == eps)


def informative_eps(outcomes: list[Outcome], clean_accuracy: float, fallback: float) -> float:
    """The L∞ ε where PGD leaves accuracy nearest half the clean accuracy: where a stronger attack would show
    most (at a small ε nothing is broken yet; at a large one everything already is)."""
    pgd = [o for o in outcomes if o.attack == "pgd" and o.norm == "linf" and o.eps > 0]
    return min(pgd, key=lambda o: abs(_accuracy(o) - clean_accuracy / 2)).eps if pgd else fallback


def eps_steps(outcomes: list[Outcome]) -> list[tuple[str, float, float, float, float]]:
    """(attack and norm, ε, accuracy, next ε, accuracy there) for consecutive ε of each attack, both accuracies on
    the rows the two ε share (a sequential sweep may have stopped adding rows at one of them)."""
    curves: dict[str, list[Outcome]] = {}
    for o in outcomes:
        curves.setdefault(f"{o.attack} {o.norm}", []).append(o)
    steps = []
    for label, points in curves.items():
        ordered = sorted(points, key=lambda o: o.eps)
        for a, b in zip(ordered, ordered[1:], strict=False):
            shared = _rows(a) if a.n <= b.n else _rows(b)
            steps.append((label, a.eps, float(a.at(shared).mean()), b.eps, float(b.at(shared).mean())))
    return steps


def _rows(o: Outcome) -> np.ndarray:
    return np.arange(o.n) if o.rows is None else o.rows


def sweep_checks(setup: AttackSetup, outcomes: list[Outcome], mid_eps: float, large_eps: float,
                 pgd_points: dict[float, torch.Tensor] | None = None) -> list:
    """Monotone in ε, ε=0, PGD vs FGSM, APGD vs PGD, more steps/restarts, large ε, zero gradients.

    The stronger PGD of the convergence check runs on the rows PGD saw at that ε and starts from PGD's own points
    (`pgd_points`, L∞, by ε): rows PGD already broke stay broken, so only the rows it missed are attacked again,
    and the check asks whether more effort breaks any of those."""
    p, tol = setup.params, setup.params.validity_tolerance
    pairs = [(o.norm, o.eps, _accuracy(o), _accuracy(_find(outcomes, "fgsm", o.norm, o.eps)))
             for o in outcomes if o.attack == "pgd"]
    apgd_pairs = [(o.norm, o.eps, _accuracy(o), _accuracy(_find(outcomes, "pgd", o.norm, o.eps)))
                  for o in outcomes if o.attack == "apgd-ce"]
    at_zero, _ = pgd_attack(setup, "linf", 0.0, min(p.pgd_steps, 5), p.pgd_restarts, salt=3)
    probe_eps = informative_eps(outcomes, float(setup.clean_correct.mean()), mid_eps)
    probed = _find(outcomes, "pgd", "linf", probe_eps)
    start = (pgd_points or {}).get(probe_eps)
    stronger, _ = pgd_attack(setup, "linf", probe_eps, 2 * p.pgd_steps, p.pgd_restarts + 1, salt=4, name="pgd-strong",
                             start=None if start is None else start[_rows(probed)], rows=probed.rows)
    large, _ = torch_attack(setup, "pgd-unbounded", PGDConfig("linf", large_eps, p.pgd_steps, restarts=0), 5,
                            space=setup.space.unconstrained())
    share = validity.zero_gradient_share(setup.view, setup.u, setup.y, setup.device)
    return [
        validity.non_increasing_steps(eps_steps(outcomes), tol),
        validity.eps_zero_matches_clean(at_zero.correct, setup.clean_correct),
        validity.pgd_no_weaker_than_fgsm(pairs, tol),
        *([validity.apgd_no_weaker_than_pgd(apgd_pairs, tol)] if apgd_pairs else []),
        validity.attack_converged(_accuracy(probed), _accuracy(stronger), tol,
                                  f"Doubling PGD's steps to {2 * p.pgd_steps} and adding a restart at ε={probe_eps:g}"),
        validity.large_eps_reaches_chance(_accuracy(large), setup.n_classes, large_eps),
        validity.gradients_informative(share, p.zero_gradient_tolerance),
    ]


def blackbox_check(setup: AttackSetup, outcomes: list[Outcome], mid_eps: float, unit: str, f: Findings) -> None:
    """The query-only attack on the first rows (in look order) the white-box sweep saw at the middle ε."""
    worst = _find(outcomes, "worst-case", "linf", mid_eps)
    rows = setup.order[: min(setup.params.n_blackbox, worst.n)]
    bb = blackbox_attack(setup, mid_eps, rows)
    f.measurements.append(report.robust_accuracy(bb, unit, setup.is_image))
    f.row_outcomes.update(outcome_columns(setup, [bb], unit))
    wb = worst.at(rows)
    f.validity.append(validity.blackbox_not_stronger(bb.correct, wb, setup.clean_correct[rows],
                                                     setup.params.validity_tolerance))


def deepfool_measurement(setup: AttackSetup, unit: str) -> Measurement:
    """Mean L2 size of DeepFool's minimal perturbation over the correctly classified rows it flipped."""
    p = setup.params
    rows = setup.order[: min(p.n_deepfool, setup.u.shape[0])]
    u0 = setup.u[rows].to(setup.device)
    u_adv, fooled = deepfool(setup.view, u0, setup.space, p.deepfool_steps)
    size = (u_adv - u0).flatten(1).norm(dim=1).cpu().numpy()
    keep = fooled.cpu().numpy() & setup.clean_correct[rows]
    values = size[keep]
    insufficient = None if values.size >= 10 else f"DeepFool flipped only {values.size} correctly classified rows"
    return Measurement(
        name="empirical_robustness[deepfool,l2]", value=float(values.mean()) if values.size else float("nan"),
        ci=bootstrap_mean_ci(values, 1000, setup.seed) if values.size else None, higher_is_better=True,
        n=int(values.size),
        description=f"Average size (L2, {unit}) of the smallest change that flips a correct prediction (DeepFool).",
        details={"rows_attacked": int(rows.size), "rows_flipped": int(values.size), "max_iter": p.deepfool_steps,
                 "overshoot": 0.02, "eps_unit": unit},
        insufficient_reason=insufficient,
    )


def tabular_extras(setup: AttackSetup, pgd_points: torch.Tensor, mid_eps: float, names: tuple[str, ...],
                   f: Findings) -> None:
    """Category switches within the budget, the features that moved most, and the constraint self-check."""
    space, budget = setup.space, setup.params.categorical_budget
    fooled = torch.as_tensor(setup.clean_correct & (setup.predict(pgd_points) != setup.y.numpy()))
    f.charts.append(report.shift_chart(feature_shift(space, setup.u, pgd_points, names, fooled), mid_eps))
    cat_points = setup.u
    if space.categorical and budget > 0:
        cat_points, changed = categorical_search(setup.view, setup.u.to(setup.device), setup.y.to(setup.device),
                                                 space, budget)
        cat_points = cat_points.cpu()
        survived = setup.clean_correct & (setup.predict(cat_points) == setup.y.numpy())
        outcome = Outcome("categorical", "k", float(budget), survived, details={"budget": budget})
        m = report.share_measurement(
            f"robust_accuracy[categorical,k={budget}]", outcome.correct,
            f"Share of audited rows still classified correctly when an attacker may switch up to {budget} mutable "
            "categorical feature(s) to another valid category.", {"budget": budget, "search": "greedy"})
        f.measurements.append(m)
        f.row_outcomes[m.name] = outcome.correct.astype(float)
        f.tables.append(report.switch_table([g.name for g in space.categorical], changed.cpu()))
    valid = one_hot_valid(setup.space.to_x(cat_points), space.categorical) or not _was_valid(setup)
    immutable_kept = validity.constraints_respected(setup.u, pgd_points, space.immutable_columns, True)
    cat_kept = validity.constraints_respected(setup.u, cat_points, space.immutable_columns, valid)
    f.validity.append(immutable_kept if not immutable_kept.passed else cat_kept)


def _was_valid(setup: AttackSetup) -> bool:
    return one_hot_valid(setup.space.to_x(setup.u), setup.space.categorical)
