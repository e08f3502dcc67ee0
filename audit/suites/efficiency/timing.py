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
    """Sequential timing with a stated stopping rule: after `min_repeats` calls, stop as soon as the median's
    distribution-free 95% CI is within ±`rel_ci` of the median, or after `budget_s` seconds or `max_repeats` calls."""

    warmup: int  # untimed calls first (caches, lazy init, compile)
    min_repeats: int
    max_repeats: int
    budget_s: float  # stop repeating once this much time was spent (after min_repeats)
    rel_ci: float = 0.0  # 0: no early stop (time until the budget or max_repeats)

    def rule(self) -> str:
        early = f"the median's 95% CI is within ±{self.rel_ci:.0%}, or " if self.rel_ci > 0 else ""
        return (f"at least {self.min_repeats} calls after {self.warmup} warm-up calls, until {early}"
                f"{self.budget_s:g} s or {self.max_repeats} calls")

    def done(self, seconds: list[float], elapsed: float) -> bool:
        if len(seconds) >= self.max_repeats:
            return True
        if len(seconds) < self.min_repeats:
            return False
        return elapsed >= self.budget_s or (self.rel_ci > 0 and median_ci_halfwidth(seconds) <= self.rel_ci)


def median_ci_halfwidth(seconds: list[float]) -> float:
    """Half the width of the order-statistic 95% CI of the median, relative to the median (inf: too few calls).

    Ranks n/2 ∓ 1.96·√n/2 (normal approximation to the binomial): valid for any distribution of call times."""
    n = len(seconds)
    low, high = int(np.floor(n / 2 - 0.98 * np.sqrt(n))), int(np.ceil(n / 2 + 0.98 * np.sqrt(n)))
    if low < 0 or high > n - 1:
        return float("inf")
    ordered = sorted(seconds)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return (ordered[high] - ordered[low]) / (2 * median) if median > 0 else float("inf")


@dataclass(frozen=True)
class Timings:
    batch: int
    seconds: np.ndarray  # per call
    threads: int = 1  # torch CPU threads the calls ran on

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
        while not plan.done(seconds, time.perf_counter() - started):
            tick = time.perf_counter()
            module(x)
            sync()
            seconds.append(time.perf_counter() - tick)
    return Timings(int(x.shape[0]), np.asarray(seconds), torch.get_num_threads())


def quantile_ci(seconds: np.ndarray, q: float, resamples: int, seed: int) -> tuple[float, float]:
    """Bootstrap CI of a quantile of call times."""
    idx = bootstrap_indices(len(seconds), resamples, seed)
    return percentile_ci(np.quantile(seconds[idx], q, axis=1))


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    """`size` rows cycled from `x` (test sets may be smaller than the largest batch)."""
    index = torch.arange(size) % x.shape[0]
    return x[index].contiguous()
