"""Re-audit of each variant on the same rows, with the same seeds, as the original.

Per variant, row by row: predictions on every test row, survival of a PGD attack (the one engine,
robustness.torch_pgd, in the robustness threat space, with the same random starts for every variant)
on seeded attack rows, and the loss-threshold membership score (Yeom et al. 2018) of a seeded balanced
set of training members and held-out non-members. Throughput is timed last (it varies between runs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset
from audit.models.types import CACHE_PASS_VALUES, row_values, rows_within
from audit.stats import derive_seed
from audit.suites.efficiency.reaudit import predict
from audit.suites.efficiency.timing import TimingPlan, batch_of, time_forward
from audit.suites.privacy.sampling import EvaluationSet, balanced_evaluation_set
from audit.suites.privacy.threshold import loss_scores
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.variant import TrainedVariant
from audit.suites.robustness.threat import LogitView, ThreatSpace, build_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd_with_stats

TIMING = TimingPlan(warmup=2, min_repeats=5, max_repeats=200, budget_s=0.2, rel_ci=0.05)  # the efficiency suite's rule
IMMUTABLE = ("sex", "race", "age")  # the robustness suite's default immutable features
_SALT_ATTACK_ROWS, _SALT_MEMBERS, _SALT_PGD = 61, 62, 63
ENGINE_BATCH = 1024  # torch_pgd's rows per attack batch
# Input values per model call: a CNN's passes run faster on small batches (its activations stay in cache).
ATTACK_VALUES = CACHE_PASS_VALUES  # attack batches with one random start (mnist-cnn: 167 rows; Adult: 1,024)
FORWARD_ROWS = 4096  # rows per forward-only call at most (Adult: 1,236 rows, mnist-cnn: 167)


@dataclass(frozen=True, eq=False)
class AuditRows:
    """The rows every variant is audited on."""

    x_test: torch.Tensor
    y_test: np.ndarray
    sensitive: pd.DataFrame
    positive: int
    binary: bool
    space: ThreatSpace | None
    attack_rows: np.ndarray  # indices into the test split
    membership: EvaluationSet | None  # None when the training rows are unknown
    device: str
    robust_key: str  # measurement bracket of the robustness figure: "linf,eps=0.1"
    robust_words: str  # what that figure survives, in words
    throughput_batch: int  # rows per timed call
    stop_when_fooled: bool = False  # images: an attack ends once its row is misclassified (all robust accuracy needs)


@dataclass(frozen=True, eq=False)
class Evidence:
    variant: TrainedVariant
    pred: np.ndarray  # per test row
    robust_correct: np.ndarray  # per attack row: still correct after PGD
    member_scores: np.ndarray | None  # per membership row: -cross-entropy of the true class
    rows_per_s: float

    @property
    def name(self) -> str:
        return self.variant.name


def audit_rows(data: Dataset, params: RemediesParams, seed: int, device: str) -> AuditRows:
    n = len(data.test)
    rng = np.random.default_rng([seed, _SALT_ATTACK_ROWS])
    attack = np.arange(n) if n <= params.attack_rows else np.sort(rng.choice(n, params.attack_rows, replace=False))
    membership = None
    if data.train is not None and len(data.train):
        membership = balanced_evaluation_set(data, params.membership_rows,
                                             np.random.default_rng([seed, _SALT_MEMBERS]))
    return AuditRows(x_test=data.test.x, y_test=data.test.y.numpy(), sensitive=data.test.sensitive,
                     positive=data.positive_class, binary=data.task == "binary",
                     space=build_space(data, IMMUTABLE), attack_rows=attack, membership=membership, device=device,
                     robust_key=f"linf,eps={params.epsilon:g}",
                     robust_words=f"L∞ PGD at ε={params.epsilon:g} in the robustness threat model "
                                  f"({params.attack_steps} steps, {params.attack_restarts} random start(s))",
                     throughput_batch=params.throughput_batch, stop_when_fooled=data.input_kind == "image")


def pgd_config(params: RemediesParams) -> PGDConfig:
    return PGDConfig("linf", params.epsilon, params.attack_steps, restarts=params.attack_restarts)


def robust_correct(variant: TrainedVariant, rows: AuditRows, cfg: PGDConfig, seed: int,
                   only: np.ndarray | None = None) -> np.ndarray:
    """Per attack row, whether the variant still classifies it correctly after PGD (same starts for all).

    `only` (a boolean per attack row), when given, limits the attack to those rows; the others count as not
    correct. The stronger-attack check passes the rows the audited attack did not fool: a row it fooled is already
    counted as broken, so the result is the robust accuracy under the worse of the two attacks per row.
    """
    assert rows.space is not None
    module = variant.module.to(rows.device).eval()
    view = LogitView(module, rows.space.scale.to(rows.device), variant.outputs == "probabilities").eval()
    chosen = rows.attack_rows if only is None else rows.attack_rows[only]
    if only is not None:
        out = np.zeros(len(rows.attack_rows), dtype=bool)
        if len(chosen):
            out[only] = robust_correct(variant, dataclasses.replace(rows, attack_rows=chosen), cfg, seed)
        return out
    idx = torch.as_tensor(chosen)
    u0, y = rows.space.to_u(rows.x_test[idx]), torch.as_tensor(rows.y_test[chosen])
    gen = torch.Generator().manual_seed(derive_seed(seed, _SALT_PGD))
    u_adv = pgd_with_stats(view, u0, y, rows.space, cfg, gen, attack_batch_rows(u0, cfg),
                           stop_when_fooled=rows.stop_when_fooled)[0]
    with torch.no_grad():
        return (view(u_adv.to(rows.device)).argmax(dim=1).cpu() == y).numpy()


def attack_batch_rows(u0: torch.Tensor, cfg: PGDConfig) -> int:
    """Rows per PGD batch. One random start is drawn row after row, so any batching draws the same starts, and a
    CNN's passes run faster on small batches (mnist-cnn's forward and input gradient: 1.5x on 128-row batches than
    on one of 500, the same gradients). With more restarts a batch draws each restart's starts in turn, so those
    attacks keep the engine's batches (the same draws, so the same figures)."""
    if cfg.restarts > 1:
        return ENGINE_BATCH
    return rows_within(row_values(u0), ATTACK_VALUES, max_rows=ENGINE_BATCH)


def forward_rows(x: torch.Tensor) -> int:
    """Rows per forward-only call (no gradients): the same outputs row by row, whatever the batching (checked on
    both zoo models); mnist-cnn's teacher outputs for 4,000 rows took 0.8 s in 4,096-row calls, 0.3 s in these."""
    return rows_within(row_values(x), ATTACK_VALUES, max_rows=FORWARD_ROWS)


def _scores(variant: TrainedVariant, ev: EvaluationSet, device: str) -> np.ndarray:
    with torch.no_grad():
        variant.module.eval()
        step = forward_rows(ev.x)
        out = torch.cat([variant.module(ev.x[i : i + step].to(device)).float().cpu()
                         for i in range(0, len(ev.y), step)])
    return loss_scores(out, ev.y, variant.outputs)


def collect(variant: TrainedVariant, rows: AuditRows, params: RemediesParams, seed: int) -> Evidence:
    module = variant.module.to(rows.device).eval()
    members = None if rows.membership is None else _scores(variant, rows.membership, rows.device)
    timing = time_forward(module, batch_of(rows.x_test, params.throughput_batch).to(rows.device), TIMING, rows.device)
    return Evidence(variant=variant, pred=predict(module, rows.x_test, rows.device),
                    robust_correct=robust_correct(variant, rows, pgd_config(params), seed), member_scores=members,
                    rows_per_s=timing.rows_per_s())
