"""Runs the attacks of one audit and records, per example, whether the model still got it right."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from audit.stats import derive_seed
from audit.suites.robustness.attacks import ArtSettings, run_art
from audit.suites.robustness.blackbox import random_search
from audit.suites.robustness.params import RobustnessParams
from audit.suites.robustness.threat import LogitView, ThreatSpace
from audit.suites.robustness.torch_pgd import PGDConfig, fgsm_config, pgd
from audit.types import JSONValue


@dataclass(frozen=True)
class Outcome:
    """One attack at one ε: `correct[i]` is True when row i (of `rows`, or of all rows) survived."""

    attack: str
    norm: str
    eps: float
    correct: np.ndarray
    rows: np.ndarray | None = None  # indices into the audit rows when the attack saw a subset
    details: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.correct.size)


@dataclass(frozen=True)
class AttackSetup:
    view: LogitView
    space: ThreatSpace
    u: torch.Tensor  # audit rows in attack units (CPU)
    y: torch.Tensor
    n_classes: int
    device: str
    params: RobustnessParams
    seed: int
    is_image: bool

    def predict(self, u: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            parts = [self.view(u[i : i + 4096].to(self.device)).argmax(1).cpu() for i in range(0, u.shape[0], 4096)]
        return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.int64)

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, salt))

    @cached_property
    def clean_correct(self) -> np.ndarray:
        return self.predict(self.u) == self.y.numpy()


def _survived(setup: AttackSetup, u_adv: torch.Tensor, rows: np.ndarray | None = None) -> np.ndarray:
    y = setup.y.numpy() if rows is None else setup.y.numpy()[rows]
    clean = setup.clean_correct if rows is None else setup.clean_correct[rows]
    return clean & (setup.predict(u_adv) == y)


def torch_attack(setup: AttackSetup, name: str, cfg: PGDConfig, salt: int,
                 space: ThreatSpace | None = None) -> tuple[Outcome, torch.Tensor]:
    space = space or setup.space
    u_adv = pgd(setup.view, setup.u, setup.y, space, cfg, setup.generator(salt), setup.params.batch_size)
    details = {"steps": cfg.steps, "restarts": cfg.restarts, "step_size": cfg.step, "implementation": "torch"}
    return Outcome(name, cfg.norm, cfg.eps, _survived(setup, u_adv), details=details), u_adv


def fgsm(setup: AttackSetup, norm: str, eps: float) -> Outcome:
    return torch_attack(setup, "fgsm", fgsm_config(norm, eps), salt=0)[0]


def pgd_attack(setup: AttackSetup, norm: str, eps: float, steps: int, restarts: int, salt: int = 1,
               name: str = "pgd") -> tuple[Outcome, torch.Tensor]:
    return torch_attack(setup, name, PGDConfig(norm, eps, steps, restarts), salt)


def art_attack(setup: AttackSetup, attack: str, norm: str, eps: float, steps: int,
               rows: np.ndarray | None = None) -> Outcome:
    u = setup.u if rows is None else setup.u[rows]
    y = setup.y if rows is None else setup.y[rows]
    settings = ArtSettings(attack, norm, eps, steps=steps, restarts=1, batch_size=setup.params.batch_size,
                           seed=setup.seed)
    u_adv = run_art(setup.view, setup.space, u, y, setup.n_classes, settings, setup.device)
    details = {"steps": steps, "restarts": 1, "implementation": "art"}
    return Outcome(attack, norm, eps, _survived(setup, u_adv, rows), rows, details)


def blackbox_attack(setup: AttackSetup, eps: float, rows: np.ndarray) -> Outcome:
    """Query-only L∞ attack: ART's Square attack on images, masked random search on tabular data."""
    queries = setup.params.blackbox_queries
    if setup.is_image:
        outcome = art_attack(setup, "square", "linf", eps, queries, rows)
        return Outcome("square", "linf", eps, outcome.correct, rows, {"queries": queries, "implementation": "art"})
    u_adv = random_search(setup.view, setup.u[rows].to(setup.device), setup.y[rows].to(setup.device),
                          setup.space, eps, queries, setup.generator(7)).cpu()
    details = {"queries": queries, "implementation": "torch random search (Square-style, masked)"}
    return Outcome("random-search", "linf", eps, _survived(setup, u_adv, rows), rows, details)


def white_box_attacks(setup: AttackSetup, norm: str, eps: float) -> tuple[list[Outcome], torch.Tensor]:
    """FGSM, PGD and (full preset) APGD at one ε; returns the outcomes and PGD's adversarial points."""
    p = setup.params
    outcomes = [fgsm(setup, norm, eps)]
    pgd_outcome, u_adv = pgd_attack(setup, norm, eps, p.pgd_steps, p.pgd_restarts)
    outcomes.append(pgd_outcome)
    if p.run_apgd and norm == "linf":  # AutoAttack's standard L∞ pairing; L2 keeps FGSM + PGD
        outcomes.append(art_attack(setup, "apgd-ce", norm, eps, p.apgd_steps))
        if setup.n_classes > 2:  # the DLR loss needs a third-largest logit
            outcomes.append(art_attack(setup, "apgd-dlr", norm, eps, p.apgd_steps))
    return outcomes, u_adv


def worst_case(setup: AttackSetup, outcomes: list[Outcome]) -> np.ndarray:
    """Per row: survived every full-row attack (the ensemble robust accuracy, as in AutoAttack)."""
    correct = setup.clean_correct.copy()
    for o in outcomes:
        if o.rows is None:
            correct &= o.correct
    return correct
