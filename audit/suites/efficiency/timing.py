"""Wall-clock timing of forward passes: warm-up, repeated runs, medians and spread, CUDA synchronised.

Timings are measurements but vary from run to run; the suite names them latency_* and throughput_*.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from audit.stats import bootstrap_indices, percentile_ci


@dataclass(frozen=True)
class TimingPlan:
    warmup: int  # untimed calls first (caches, lazy init, compile)
    min_repeats: int
    max_repeats: int
    budget_s: float  # stop repeating once this much time was spent (after min_repeats)


@dataclass(frozen=True)
class Timings:
    batch: int
    seconds: np.ndarray  # per call

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.seconds, q))

    def rows_per_s(self) -> float:
        return self.batch / self.quantile(0.5)

    def rows_per_s_spread(self) -> tuple[float, float]:
        """Interquartile range of rows/s (slow calls give the lower end)."""
        return self.batch / self.quantile(0.75), self.batch / self.quantile(0.25)


def _sync(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def time_forward(module: nn.Module, x: torch.Tensor, plan: TimingPlan, device: str) -> Timings:
    """Per-call seconds of module(x) under no_grad."""
    sync = _sync(device)
    seconds: list[float] = []
    with torch.no_grad():
        for _ in range(plan.warmup):
            module(x)
        sync()
        started = time.perf_counter()
        while len(seconds) < plan.max_repeats and (
            len(seconds) < plan.min_repeats or time.perf_counter() - started < plan.budget_s
        ):
            tick = time.perf_counter()
            module(x)
            sync()
            seconds.append(time.perf_counter() - tick)
    return Timings(int(x.shape[0]), np.asarray(seconds))


def quantile_ci(seconds: np.ndarray, q: float, resamples: int, seed: int) -> tuple[float, float]:
    """Bootstrap CI of a quantile of call times."""
    idx = bootstrap_indices(len(seconds), resamples, seed)
    return percentile_ci(np.quantile(seconds[idx], q, axis=1))


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    """`size` rows cycled from `x` (test sets may be smaller than the largest batch)."""
    index = torch.arange(size) % x.shape[0]
    return x[index].contiguous()
