"""Runs the attacks of one audit and records, per example, whether the model still got it right."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from audit.executors.tasks import IN_PROCESS, TaskRunner, item_seeds, run_in_order
from audit.stats import DEFAULT_ALPHA, SequentialLooks, derive_seed
from audit.suites.robustness.apgd import APGDConfig, apgd_with_stats
from audit.suites.robustness.attacks import ArtSettings, run_art
from audit.suites.robustness.blackbox import random_search, square_attack
from audit.suites.robustness.chunks import row_chunks
from audit.suites.robustness.params import RobustnessParams
from audit.suites.robustness.threat import ThreatSpace
from audit.suites.robustness.torch_pgd import AttackStats, PGDConfig, pgd_with_stats
from audit.types import JSONValue

R = TypeVar("R")
# Salts of the row-sharded attacks' fan-outs (a shard's seed: derive_seed(run seed, salt, shard index))
ENGINE_SALT, BLACKBOX_SALT = 4200, 4100
SHARD_GPUS = 1.0  # on CUDA an attack shard keeps a GPU busy on its own


@dataclass(frozen=True)
class Outcome:
    """One attack at one ε: `correct[i]` is True when row i (of `rows`, or of all rows) survived."""

    attack: str
    norm: str
    eps: float
    correct: np.ndarray
    rows: np.ndarray | None = None  # indices into the audit rows when the attack saw a subset
    details: Mapping[str, JSONValue] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA  # error rate its interval spends (a sequential look's share; audit.stats)

    @property
    def n(self) -> int:
        return int(self.correct.size)

    def at(self, positions: np.ndarray) -> np.ndarray:
        """`correct` for the given audit rows (which the attack must have seen)."""
        if self.rows is None:
            return self.correct[positions]
        where = {int(r): i for i, r in enumerate(self.rows)}
        return self.correct[[where[int(p)] for p in positions]]


@dataclass(frozen=True)
class AttackSetup:
    view: nn.Module  # attack units -> logits (a LogitView, its passes in chunks: `chunks.RowChunks`), or a LabelView
    space: ThreatSpace
    u: torch.Tensor  # audit rows in attack units (CPU)
    y: torch.Tensor
    n_classes: int
    device: str
    params: RobustnessParams
    seed: int
    is_image: bool
    tasks: TaskRunner = IN_PROCESS  # where row shards run (the suite's executor: in order here, or Ray tasks)

    def in_shards(self, task: Callable[[Any, np.ndarray, int], R], shared: Any, rows: np.ndarray,  # noqa: ANN401
                  salt: int) -> list[R]:
        """`task(shared, shard, seed)` on `rows` cut into nearly equal shards of at most `shard_rows` (audit rows,
        in order), each a task of its own; results in shard order. A shard's seed depends on its index alone, so
        where and in what order shards run changes no figure."""
        shards = [rows[piece] for piece in self.shard_pieces(len(rows))]
        gpus = SHARD_GPUS if self.device.startswith("cuda") else 0.0
        return run_in_order(self.tasks, task, shared, shards, item_seeds(self.seed, salt, len(shards)), gpus)

    def shard_pieces(self, n: int) -> list[slice]:
        """`n` rows in the shards every row-sharded attack uses: nearly equal, at most `shard_rows` each."""
        return row_chunks(n, self.params.shard_rows)

    def predict(self, u: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            parts = [self.view(u[i : i + 4096].to(self.device)).argmax(1).cpu() for i in range(0, u.shape[0], 4096)]
        return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.int64)

    def generator(self, *salts: int) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, *salts))

    @cached_property
    def clean_correct(self) -> np.ndarray:
        return self.predict(self.u) == self.y.numpy()

    @cached_property
    def order(self) -> np.ndarray:
        """The order rows join the sweep in (a seeded shuffle, so every prefix is a random sample of them)."""
        return np.random.default_rng(derive_seed(self.seed, 43)).permutation(self.u.shape[0])

    @cached_property
    def looks(self) -> SequentialLooks:
        """Row counts at which each ε's figure is looked at (audit.stats.SequentialLooks); one look: all rows."""
        p = self.params
        early = tuple(k for k in p.row_looks if k < self.u.shape[0])
        share = min(0.01, DEFAULT_ALPHA / (2 * len(early))) if early else 0.01  # early looks spend half α at most
        return SequentialLooks.for_rows(self.u.shape[0], early, p.ci_half_width, DEFAULT_ALPHA, share)


def _survived(setup: AttackSetup, u_adv: torch.Tensor, rows: np.ndarray | None = None) -> np.ndarray:
    y = setup.y.numpy() if rows is None else setup.y.numpy()[rows]
    clean = setup.clean_correct if rows is None else setup.clean_correct[rows]
    return clean & (setup.predict(u_adv) == y)


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


@dataclass(frozen=True)
class EngineWork:
    """What every shard of one engine attack shares."""

    setup: AttackSetup
    cfg: PGDConfig | APGDConfig
    salt: int
    space: ThreatSpace
    start: torch.Tensor | None  # warm starts, one per audit row (None: cold)


def engine_shard(work: EngineWork, rows: np.ndarray, seed: int) -> tuple[torch.Tensor, AttackStats]:
    """One shard of an engine attack: its audit rows attacked with early stopping from the shard's own seed."""
    setup, cfg = work.setup, work.cfg
    attack = pgd_with_stats if isinstance(cfg, PGDConfig) else apgd_with_stats
    start = None if work.start is None else work.start[torch.from_numpy(rows)]
    gen = torch.Generator().manual_seed(derive_seed(seed, work.salt))
    return attack(setup.view, setup.u[rows], setup.y[rows], work.space, cfg, gen, setup.params.batch_size,
                  stop_when_fooled=True, start=start)


def torch_attack(setup: AttackSetup, name: str, cfg: PGDConfig | APGDConfig, salt: int,
                 space: ThreatSpace | None = None, start: torch.Tensor | None = None, rows: np.ndarray | None = None,
                 ) -> tuple[Outcome, torch.Tensor]:
    """One engine attack with early stopping on the audit rows `rows` (all when None), in row shards; `start`
    (points feasible at this ε, one per attacked row) warm-starts them."""
    chosen = np.arange(setup.u.shape[0]) if rows is None else rows
    full_start = None
    if start is not None:  # the shards index warm starts by audit row
        full_start = setup.u.clone()
        full_start[torch.from_numpy(chosen)] = start
    work = EngineWork(setup, cfg, salt, space or setup.space, full_start)
    found = setup.in_shards(engine_shard, work, chosen, ENGINE_SALT + salt)
    u_adv = torch.cat([points for points, _ in found]) if found else setup.u[chosen]
    stats = sum((shard_stats for _, shard_stats in found), AttackStats())
    carried = 0 if start is None else int(chosen.size - stats.rows_attacked)
    details = {**_details(cfg, stats, carried), "shard_rows": setup.params.shard_rows}
    outcome = Outcome(name, cfg.norm, cfg.eps, _survived(setup, u_adv, rows), rows, details)
    return outcome, u_adv


def pgd_attack(setup: AttackSetup, norm: str, eps: float, steps: int, restarts: int, salt: int = 1,
               name: str = "pgd", start: torch.Tensor | None = None, rows: np.ndarray | None = None,
               ) -> tuple[Outcome, torch.Tensor]:
    return torch_attack(setup, name, PGDConfig(norm, eps, steps, restarts), salt, start=start, rows=rows)


def art_attack(setup: AttackSetup, attack: str, norm: str, eps: float, steps: int,
               rows: np.ndarray | None = None) -> Outcome:
    u = setup.u if rows is None else setup.u[rows]
    y = setup.y if rows is None else setup.y[rows]
    settings = ArtSettings(attack, norm, eps, steps=steps, restarts=1, batch_size=setup.params.batch_size,
                           seed=setup.seed)
    u_adv = run_art(setup.view, setup.space, u, y, setup.n_classes, settings, setup.device)
    details = {"steps": steps, "restarts": 1, "implementation": "art"}
    return Outcome(attack, norm, eps, _survived(setup, u_adv, rows), rows, details)


@dataclass(frozen=True)
class BlackboxWork:
    setup: AttackSetup
    eps: float


def blackbox_shard(work: BlackboxWork, rows: np.ndarray, seed: int) -> np.ndarray:
    """One shard of the query-only attack: survival of its audit rows."""
    setup, queries = work.setup, work.setup.params.blackbox_queries
    u, y = setup.u[rows].to(setup.device), setup.y[rows].to(setup.device)
    gen = torch.Generator().manual_seed(derive_seed(seed, 7))
    if setup.is_image:
        u_adv = square_attack(setup.view, u, y, setup.space, work.eps, queries, gen, batch_size=setup.params.batch_size)
    else:
        u_adv = random_search(setup.view, u, y, setup.space, work.eps, queries, gen)
    return _survived(setup, u_adv.cpu(), rows)


def blackbox_attack(setup: AttackSetup, eps: float, rows: np.ndarray) -> Outcome:
    """Query-only L∞ attack, in row shards: the Square attack on images, masked random search on tabular data."""
    found = setup.in_shards(blackbox_shard, BlackboxWork(setup, eps), rows, BLACKBOX_SALT)
    survived = np.concatenate(found) if found else np.zeros(0, dtype=bool)
    queries = setup.params.blackbox_queries
    if setup.is_image:
        details = {"queries": queries, "implementation": "torch Square attack, the paper's algorithm (p_init 0.8; "
                   "stronger than ART's SquareAttack at equal queries, see docs/suites/robustness.md)",
                   "stopping": "a row stops at its first success", "shard_rows": setup.params.shard_rows}
        return Outcome("square", "linf", eps, survived, rows, details)
    details = {"queries": queries, "implementation": "torch random search (Square-style, masked)",
               "shard_rows": setup.params.shard_rows}
    return Outcome("random-search", "linf", eps, survived, rows, details)
