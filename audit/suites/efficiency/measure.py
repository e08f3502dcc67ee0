"""Measure one built variant: footprint, first call, timings, memory, predictions and robust accuracy."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from audit.suites.efficiency.footprint import Footprint, footprint, peak_memory_bytes
from audit.suites.efficiency.reaudit import AttackSpec, pgd, predict
from audit.suites.efficiency.timing import TimingPlan, Timings, batch_of, time_forward
from audit.suites.efficiency.variants import Variant
from audit.threads import torch_threads


@dataclass(frozen=True)
class Workload:
    """Inputs shared by every variant's measurement."""

    x_test: torch.Tensor
    x_attack: torch.Tensor
    y_attack: torch.Tensor
    batch_sizes: tuple[int, ...]
    reference_batch: int
    plan: TimingPlan
    attack: AttackSpec | None
    outputs: str  # "logits" | "probabilities"
    device: str
    threads: int = 1  # torch CPU threads for the timed calls (the caller's setting); the rest runs on one


@dataclass(frozen=True)
class VariantResult:
    variant: Variant
    footprint: Footprint
    first_call_s: float  # includes compilation for torch.compile
    latency: Timings  # batch 1
    throughput: tuple[Timings, ...]  # one per batch size
    pred: np.ndarray  # predicted classes on the test split
    robust_correct: np.ndarray | None  # per attacked row: still correct under attack
    attack_mode: str  # "white-box" | "transfer from fp32" | ""
    peak_memory: int = 0  # bytes allocated by a forward pass at the reference batch (filled in by `with_memory`)


def first_call(variant: Variant, work: Workload) -> tuple[float, str | None]:
    """Time the first forward pass (lazy compilation happens here); a failure becomes a skip reason."""
    assert variant.module is not None
    started = time.perf_counter()
    try:
        with torch.no_grad():
            variant.module(batch_of(work.x_test, 2).to(work.device))
    except Exception as error:  # noqa: BLE001 - reported as a skipped variant with the reason
        return time.perf_counter() - started, f"{variant.name} failed on its first forward pass: {error}"
    return time.perf_counter() - started, None


def measure(variant: Variant, work: Workload, first_s: float, baseline_adv: torch.Tensor | None) -> VariantResult:
    module = variant.module
    assert module is not None
    batches = {size: batch_of(work.x_test, size).to(work.device) for size in work.batch_sizes}
    with torch_threads(work.threads):
        throughput = tuple(time_forward(module, batches[size], work.plan, work.device) for size in work.batch_sizes)
        latency = throughput[work.batch_sizes.index(1)] if 1 in work.batch_sizes else time_forward(
            module, batch_of(work.x_test, 1).to(work.device), work.plan, work.device)
    robust, mode = _robust(variant, work, baseline_adv)
    return VariantResult(
        variant=variant, footprint=variant.footprint or footprint(module), first_call_s=first_s, latency=latency,
        throughput=throughput,
        pred=predict(module, work.x_test, work.device), robust_correct=robust, attack_mode=mode,
    )


def with_memory(results: list[VariantResult], work: Workload) -> list[VariantResult]:
    """Fill in each variant's peak forward-pass memory at the reference batch."""
    modules = {r.variant.name: r.variant.module for r in results
               if r.variant.module is not None and r.variant.runtime == "torch"}
    peaks = peak_memory_bytes(modules, batch_of(work.x_test, work.reference_batch).to(work.device), work.device)
    return [dataclasses.replace(r, peak_memory=peaks.get(r.variant.name, 0)) for r in results]


def adversarial(variant: Variant, work: Workload, early_stop: bool = False) -> torch.Tensor | None:
    """PGD examples crafted on this variant (None when no attack is configured); `early_stop` lets rows stop once
    fooled where the attack spec allows it (never for fp32's points, which are also transferred)."""
    if work.attack is None or variant.module is None:
        return None
    return pgd(variant.module, work.x_attack.to(work.device), work.y_attack.to(work.device), work.attack,
               work.outputs, stop_when_fooled=early_stop and work.attack.stop_when_fooled)


def _robust(variant: Variant, work: Workload, baseline_adv: torch.Tensor | None) -> tuple[np.ndarray | None, str]:
    if work.attack is None or baseline_adv is None:
        return None, ""
    if variant.name == "fp32":
        adv, mode = baseline_adv, "white-box"
    elif variant.differentiable:
        adv, mode = adversarial(variant, work, early_stop=True), "white-box"
    else:
        adv, mode = baseline_adv, "transfer from fp32"
    assert adv is not None and variant.module is not None
    return predict(variant.module, adv, work.device) == work.y_attack.numpy(), mode
