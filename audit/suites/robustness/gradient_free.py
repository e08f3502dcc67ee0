"""Robustness of a model without gradients: score-based, then decision-based black-box attacks.

With scores, the Square-style random search (`blackbox.random_search`) and HopSkipJump both run on the same rows
and a row counts as robust at ε only if it survived both ("worst-case"); with predicted classes alone, only
HopSkipJump runs. Every figure names its attack family, and all of them are upper bounds on robust accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audit.models.types import ModelUnderAudit
from audit.suites.robustness import report, validity
from audit.suites.robustness.decision_based import HopSkipJumpSettings, hop_skip_jump
from audit.suites.robustness.evidence import outcome_columns
from audit.suites.robustness.findings import Findings
from audit.suites.robustness.sweep import AttackSetup, Outcome, blackbox_attack

SCORE_BASED = "black-box (score-based, Square-style random search)"
DECISION_BASED = "black-box (decision-based, HopSkipJump)"
UPPER_BOUND = ("The model gives no gradients, so no white-box attack ran and no white-box figure is reported. "
               "Robust accuracy from black-box attacks is an upper bound: a stronger attacker may do better.")


class LabelView(nn.Module):
    """A labels-only model seen from attack units: one-hot rows of its predicted class (no scores, no gradients)."""

    def __init__(self, model: ModelUnderAudit, scale: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("scale", scale.clone())

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        labels = torch.as_tensor(self.model.predict((u * self.scale).cpu()))
        return torch.nn.functional.one_hot(labels, self.model.n_classes).float().to(u.device)


def decision_outcomes(setup: AttackSetup, model: ModelUnderAudit, eps_list: tuple[float, ...],
                      rows: np.ndarray) -> list[Outcome]:
    """HopSkipJump once per row; a row falls at every ε at least as large as the distance of its point."""
    p = setup.params
    settings = HopSkipJumpSettings(iterations=p.decision_iterations, max_evals=p.decision_max_evals,
                                   initial_evals=min(50, p.decision_max_evals))
    scale = setup.space.scale

    def decide(u: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(model.predict((u * scale).cpu()))

    found = hop_skip_jump(decide, setup.space, setup.u[rows], setup.y[rows], settings, setup.generator(11))
    still_wrong = decide(found.u_adv).numpy() != setup.y[rows].numpy()  # re-checked: only real flips count
    clean = setup.clean_correct[rows]
    details = {"family": DECISION_BASED, "implementation": "torch HopSkipJump (L∞, masked)",
               "iterations": settings.iterations, "max_evals": settings.max_evals, "queries_per_row": found.queries,
               "bound": "upper bound on robust accuracy",
               "rows_without_adversarial_start": int(np.isinf(found.distance.numpy()).sum())}
    dist = found.distance.numpy()
    return [Outcome("hopskipjump", "linf", eps, clean & ~(still_wrong & (dist <= eps)), rows, details)
            for eps in eps_list]


def score_outcomes(setup: AttackSetup, eps_list: tuple[float, ...], rows: np.ndarray) -> list[Outcome]:
    outcomes = [blackbox_attack(setup, eps, rows) for eps in eps_list]
    return [Outcome(o.attack, o.norm, o.eps, o.correct, o.rows,
                    {**o.details, "family": SCORE_BASED, "bound": "upper bound on robust accuracy"})
            for o in outcomes]


def _worst_case(groups: list[list[Outcome]]) -> list[Outcome]:
    """Per ε: robust only if it survived every attack family (the figure the gates read)."""
    worst = []
    for at_eps in zip(*groups, strict=True):
        correct = np.logical_and.reduce([o.correct for o in at_eps])
        families = " + ".join(str(o.details["family"]) for o in at_eps)
        worst.append(Outcome("worst-case", "linf", at_eps[0].eps, correct, at_eps[0].rows,
                             {"family": families, "bound": "upper bound on robust accuracy",
                              "attacks": [o.attack for o in at_eps]}))
    return worst


def gradient_free_findings(setup: AttackSetup, model: ModelUnderAudit, eps_list: tuple[float, ...], unit: str,
                           f: Findings) -> Outcome:
    """Runs the black-box attacks the model allows; returns the worst case at the middle ε (for by-group figures)."""
    rows = np.arange(min(setup.params.n_blackbox, setup.u.shape[0]))
    groups, families = [], []
    if "score" in model.capabilities:
        groups.append(score_outcomes(setup, eps_list, rows))
        families.append(SCORE_BASED)
    if setup.params.run_decision_based or not groups:
        groups.append(decision_outcomes(setup, model, eps_list, rows))
        families.append(DECISION_BASED)
    worst = _worst_case(groups)
    every = [o for group in groups for o in group] + worst
    f.row_outcomes.update(outcome_columns(setup, every, unit))
    for o in every:
        is_worst = o.attack == "worst-case"
        f.measurements.append(report.robust_accuracy(o, unit, setup.is_image, variant="linf" if is_worst else None))
        if is_worst:
            f.measurements.append(report.success_rate(o, setup.clean_correct, unit, setup.is_image))
    f.charts.append(report.curve_chart(every, "linf", unit))
    f.validity += _checks(setup, groups, rows)
    f.notes.append(f"Attacks run: {'; '.join(families)} on {rows.size} rows. {UPPER_BOUND}")
    return worst[(len(worst) - 1) // 2]


def _checks(setup: AttackSetup, groups: list[list[Outcome]], rows: np.ndarray) -> list:
    curves = {g[0].attack: [(o.eps, float(o.correct.mean())) for o in g] for g in groups}
    checks = [validity.non_increasing_in_eps(curves, setup.params.validity_tolerance)]
    if any(g[0].attack == "random-search" for g in groups):
        at_zero = blackbox_attack(setup, 0.0, rows)
        checks.append(validity.eps_zero_matches_clean(at_zero.correct, setup.clean_correct[rows],
                                                      "The score-based random search"))
    return checks
