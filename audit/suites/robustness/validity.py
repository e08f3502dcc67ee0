"""Self-checks of the evaluation (Carlini et al. 2019; Athalye et al. 2018).

Each returns a `ValidityCheck`; a failed one makes the runner call the robustness verdict an
"unreliable evaluation" — an attack that did not work is not evidence that the model is robust.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from audit.suites.robustness.blackbox import margin
from audit.types import ValidityCheck


def outputs_are_logits(declared: str, scores: torch.Tensor) -> ValidityCheck:
    """Attacks on probabilities lose their gradient where the softmax saturates."""
    sums_to_one = torch.allclose(scores.sum(1), torch.ones(len(scores)), atol=1e-3)
    looks_like_probs = bool((scores >= 0).all() and (scores <= 1).all() and sums_to_one)
    passed = declared == "logits" and not looks_like_probs
    if passed:
        detail = "The model returns logits (scores are not rows of probabilities)."
    elif declared != "logits":
        detail = "The model declares probability outputs; attacks through a saturated softmax can fail silently."
    else:
        detail = "The model says it returns logits, but every row is non-negative and sums to 1: probabilities."
    return ValidityCheck("outputs_are_logits", passed, detail)


def non_increasing_in_eps(curves: dict[str, Sequence[tuple[float, float]]], tol: float) -> ValidityCheck:
    """A stronger attacker (larger ε) must never do worse; a rise means the attack is unreliable."""
    steps = []
    for label, points in curves.items():
        ordered = sorted(points)
        steps += [(label, e1, a1, e2, a2) for (e1, a1), (e2, a2) in zip(ordered, ordered[1:], strict=False)]
    return non_increasing_steps(steps, tol)


def non_increasing_steps(steps: Sequence[tuple[str, float, float, float, float]], tol: float) -> ValidityCheck:
    """(label, ε, accuracy, larger ε, accuracy there), each pair measured on the same rows: none may rise."""
    rises = [f"{label}: {a1:.3f} at ε={e1:g} -> {a2:.3f} at ε={e2:g}" for label, e1, a1, e2, a2 in steps
             if a2 > a1 + tol]
    detail = "Robust accuracy never rises with ε." if not rises else "Robust accuracy rises with ε: " + "; ".join(rises)
    return ValidityCheck("robust_accuracy_non_increasing_in_eps", not rises, detail)


def eps_zero_matches_clean(correct_at_zero: np.ndarray, clean_correct: np.ndarray,
                           attack: str = "PGD") -> ValidityCheck:
    """An attack with no budget must reproduce the clean predictions exactly (else the model is stochastic)."""
    k0, k = int(correct_at_zero.sum()), int(clean_correct.sum())
    passed = bool(np.array_equal(correct_at_zero, clean_correct))
    detail = f"{attack} at ε=0 is right on {k0} rows, the clean model on {k}" + (
        "." if passed else "; predictions change without any perturbation (randomness or state in forward).")
    return ValidityCheck("eps_zero_equals_clean_accuracy", passed, detail)


def pgd_no_weaker_than_fgsm(pairs: Sequence[tuple[str, float, float, float]], tol: float) -> ValidityCheck:
    """(norm, ε, PGD accuracy, FGSM accuracy): an iterative attack weaker than one step signals masked gradients."""
    weaker = [f"{norm} ε={eps:g}: PGD {a_pgd:.3f} > FGSM {a_fgsm:.3f}" for norm, eps, a_pgd, a_fgsm in pairs
              if a_pgd > a_fgsm + tol]
    detail = "PGD is at least as strong as FGSM at every ε." if not weaker else "PGD weaker than FGSM: " + "; ".join(
        weaker)
    return ValidityCheck("pgd_no_weaker_than_fgsm", not weaker, detail)


def apgd_no_weaker_than_pgd(pairs: Sequence[tuple[str, float, float, float]], tol: float) -> ValidityCheck:
    """(norm, ε, APGD-CE accuracy, PGD accuracy): APGD adapts its step and so should never do worse than PGD with
    the same loss and budget; if it does, one of the two is not searching the threat space it claims to."""
    weaker = [f"{norm} ε={eps:g}: APGD-CE {a_apgd:.3f} > PGD {a_pgd:.3f}" for norm, eps, a_apgd, a_pgd in pairs
              if a_apgd > a_pgd + tol]
    detail = ("APGD-CE is at least as strong as PGD at every ε." if not weaker
              else "APGD-CE weaker than PGD: " + "; ".join(weaker))
    return ValidityCheck("apgd_no_weaker_than_pgd", not weaker, detail)


def attack_converged(acc: float, acc_stronger: float, tol: float, what: str) -> ValidityCheck:
    gain = acc - acc_stronger
    passed = gain <= tol
    detail = (f"{what} lowers robust accuracy by {gain:.3f} (from {acc:.3f} to {acc_stronger:.3f}); "
              + ("the attack has converged." if passed else "the reported figures overstate robustness."))
    return ValidityCheck("attack_converged", passed, detail)


def blackbox_not_stronger(bb_correct: np.ndarray, wb_correct: np.ndarray, clean: np.ndarray,
                          tol: float) -> ValidityCheck:
    """Per example: rows the query-only attack breaks but every gradient attack misses suggest gradient masking."""
    only_bb = clean & ~bb_correct & wb_correct
    share = float(only_bb.mean()) if only_bb.size else 0.0
    passed = share <= tol
    detail = (f"The black-box attack broke {int(only_bb.sum())} of {only_bb.size} rows ({share:.1%}) that every "
              "white-box attack missed" + ("." if passed else "; gradients are likely masked or obfuscated."))
    return ValidityCheck("blackbox_no_stronger_than_whitebox", passed, detail)


def large_eps_reaches_chance(acc: float, n_classes: int, eps: float) -> ValidityCheck:
    """With an unbounded budget every input can be changed into another class; accuracy must fall to chance."""
    chance = 1.0 / n_classes
    passed = acc <= chance
    detail = (f"Unconstrained PGD at ε={eps:g} leaves accuracy {acc:.3f} (chance {chance:.3f})"
              + ("." if passed else "; the attack cannot find its way even with no real limit."))
    return ValidityCheck("large_eps_reaches_chance", passed, detail)


def zero_gradient_share(view: nn.Module, u: torch.Tensor, y: torch.Tensor, device: str) -> float:
    """Share of rows whose margin gradient is exactly zero (flat or non-differentiable model)."""
    zero = 0
    for i in range(0, u.shape[0], 1024):
        ub = u[i : i + 1024].to(device).requires_grad_(True)
        out = margin(view(ub), y[i : i + 1024].to(device)).sum()
        if not out.requires_grad:  # the forward pass detaches its input: no gradient at all
            return 1.0
        (grad,) = torch.autograd.grad(out, ub, allow_unused=True)
        if grad is None:
            return 1.0
        zero += int((grad.flatten(1).abs().sum(1) == 0).sum())
    return zero / max(u.shape[0], 1)


def gradients_informative(share: float, tol: float) -> ValidityCheck:
    passed = share <= tol
    detail = f"{share:.1%} of inputs have an all-zero gradient" + (
        "." if passed else "; gradient attacks cannot move them (gradient masking / a non-differentiable step).")
    return ValidityCheck("gradients_nonzero", passed, detail)


def constraints_respected(u0: torch.Tensor, u_adv: torch.Tensor, immutable: Sequence[int],
                          one_hot_ok: bool) -> ValidityCheck:
    moved = [c for c in immutable if not torch.equal(u0[:, c], u_adv[:, c])]
    passed = not moved and one_hot_ok
    detail = "No attack moved an immutable feature or broke a one-hot group." if passed else (
        f"Constraint violated: immutable columns moved {moved}; one-hot groups valid: {one_hot_ok}.")
    return ValidityCheck("tabular_constraints_respected", passed, detail)
