"""Runs the attacks of one audit and records, per example, whether the model still got it right."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from audit.stats import derive_seed
from audit.suites.robustness.apgd import APGDConfig, apgd_with_stats
from audit.suites.robustness.attacks import ArtSettings, run_art
from audit.suites.robustness.blackbox import random_search
from audit.suites.robustness.params import RobustnessParams
from audit.suites.robustness.threat import LogitView, ThreatSpace
from audit.suites.robustness.torch_pgd import AttackStats, PGDConfig, fgsm_config, pgd_with_stats
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


Warm = dict[tuple[str, str], torch.Tensor]  # (attack, norm) -> its adversarial points at the previous, smaller ε


def _details(cfg: PGDConfig | APGDConfig, stats: AttackStats, carried: int) -> dict[str, JSONValue]:
    out: dict[str, JSONValue] = {"steps": cfg.steps, "restarts": cfg.restarts, "implementation": "torch",
                                 "stopping": "a row stops at its first misclassified iterate",
                                 "rows_attacked": stats.rows_attacked, "rows_carried_from_smaller_eps": carried,
                                 "gradient_steps": stats.row_steps, "restarts_run": stats.restarts_run}
    if isinstance(cfg, PGDConfig):
        out["step_size"] = cfg.step
    else:
        out["loss"] = cfg.loss
    return out


def torch_attack(setup: AttackSetup, name: str, cfg: PGDConfig | APGDConfig, salt: int,
                 space: ThreatSpace | None = None, start: torch.Tensor | None = None,
                 ) -> tuple[Outcome, torch.Tensor]:
    """One engine attack with early stopping; `start` (points feasible at this ε) warm-starts the rows."""
    space, gen, size = space or setup.space, setup.generator(salt), setup.params.batch_size
    if isinstance(cfg, PGDConfig):
        u_adv, stats = pgd_with_stats(setup.view, setup.u, setup.y, space, cfg, gen, size, stop_when_fooled=True,
                                      start=start)
    else:
        u_adv, stats = apgd_with_stats(setup.view, setup.u, setup.y, space, cfg, gen, size, stop_when_fooled=True,
                                       start=start)
    carried = 0 if start is None else int(setup.u.shape[0] - stats.rows_attacked)
    return Outcome(name, cfg.norm, cfg.eps, _survived(setup, u_adv), details=_details(cfg, stats, carried)), u_adv


def fgsm(setup: AttackSetup, norm: str, eps: float) -> Outcome:
    return torch_attack(setup, "fgsm", fgsm_config(norm, eps), salt=0)[0]


def pgd_attack(setup: AttackSetup, norm: str, eps: float, steps: int, restarts: int, salt: int = 1,
               name: str = "pgd", start: torch.Tensor | None = None) -> tuple[Outcome, torch.Tensor]:
    return torch_attack(setup, name, PGDConfig(norm, eps, steps, restarts), salt, start=start)


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


def white_box_attacks(setup: AttackSetup, norm: str, eps: float, warm: Warm | None = None,
                      ) -> tuple[list[Outcome], torch.Tensor]:
    """FGSM, PGD and (full preset) APGD-CE / APGD-DLR at one ε; returns the outcomes and PGD's points.

    `warm` holds each iterative attack's points at the previous, smaller ε of this norm (feasible here, since
    the balls are nested); rows they already fool are carried over, and `warm` is updated in place.
    """
    p, warm = setup.params, warm if warm is not None else {}
    outcomes = [fgsm(setup, norm, eps)]  # FGSM stays cold: it is the baseline PGD must beat
    pgd_cfg = PGDConfig(norm, eps, p.pgd_steps, p.pgd_restarts)
    runs: list[tuple[str, PGDConfig | APGDConfig, int]] = [("pgd", pgd_cfg, 1)]
    if p.run_apgd and norm == "linf":  # AutoAttack's standard L∞ pairing; L2 keeps FGSM + PGD
        runs.append(("apgd-ce", APGDConfig(norm, eps, p.apgd_steps, "ce"), 8))
        if setup.n_classes > 2:  # the DLR loss needs a third-largest logit
            runs.append(("apgd-dlr", APGDConfig(norm, eps, p.apgd_steps, "dlr"), 9))
    for name, cfg, salt in runs:
        outcome, points = torch_attack(setup, name, cfg, salt, start=warm.get((name, norm)))
        warm[(name, norm)] = points
        outcomes.append(outcome)
    return outcomes, warm[("pgd", norm)]


def worst_case(setup: AttackSetup, outcomes: list[Outcome]) -> np.ndarray:
    """Per row: survived every full-row attack (the ensemble robust accuracy, as in AutoAttack)."""
    correct = setup.clean_correct.copy()
    for o in outcomes:
        if o.rows is None:
            correct &= o.correct
    return correct
