"""Compressed variants keep their declared dtype and sparsity; footprint, memory and timing are sound."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audit.models.architectures import MnistCNN, TabularMLP
from audit.suites.efficiency.footprint import footprint, peak_memory_bytes
from audit.suites.efficiency.timing import TimingPlan, batch_of, median_ci_halfwidth, time_forward
from audit.suites.efficiency.variants import build, prunable_layers


@pytest.fixture(scope="module")
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return TabularMLP(40, 2, (64, 32)).eval()


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return MnistCNN().eval()


def _zero_share(weight: torch.Tensor) -> float:
    return float((weight == 0).float().mean())


@pytest.mark.parametrize("name, amount", [("prune50", 0.5), ("prune90", 0.9)])
def test_unstructured_pruning_keeps_its_declared_sparsity(mlp, cnn, name, amount):
    for module in (mlp, cnn):
        variant = build(name, module, "cpu")
        assert variant.declared_sparsity == amount
        for _, layer in prunable_layers(variant.module):
            assert _zero_share(layer.weight) == pytest.approx(amount, abs=1.0 / layer.weight.numel() + 1e-9)
            assert not hasattr(layer, "weight_mask")  # pruning made permanent
        assert all(_zero_share(layer.weight) == 0 for _, layer in prunable_layers(module))  # original untouched


def test_structured_pruning_zeroes_half_the_hidden_units(cnn):
    variant = build("structured50", cnn, "cpu")
    layers = prunable_layers(variant.module)
    for _, layer in layers[:-1]:
        rows = layer.weight.detach().flatten(1)
        dead = rows.abs().sum(dim=1) == 0
        assert dead.float().mean() == pytest.approx(0.5)
        assert torch.all(layer.bias[dead] == 0)
    assert _zero_share(layers[-1][1].weight) == 0  # every class keeps its output unit


def test_quantized_and_half_precision_dtypes(mlp, cnn):
    int8 = build("int8", cnn, "cpu").module
    quantized = [m for m in int8.modules() if type(m).__name__ == "Linear" and m.__module__.startswith("torch.ao")]
    assert len(quantized) == 2 and all(m.weight().dtype == torch.qint8 for m in quantized)
    assert all(m.weight.dtype == torch.float32 for m in int8.modules() if isinstance(m, nn.Conv2d))  # not quantized
    assert footprint(int8).weight_dtypes == ("float32", "qint8")
    bf16 = build("bf16", mlp, "cpu")
    assert {p.dtype for p in bf16.module.parameters()} == {torch.bfloat16}
    x = torch.randn(8, 40)
    assert bf16.module(x).dtype == torch.float32
    torch.testing.assert_close(bf16.module(x), mlp(x), atol=0.1, rtol=0.05)
    assert build("fp16", mlp, "cpu").skipped  # float16 only on CUDA


def test_footprint_counts_parameters_and_zeros(mlp):
    dense = footprint(mlp)
    assert dense.parameters == sum(p.numel() for p in mlp.parameters())
    assert dense.nonzero == dense.parameters
    int8 = footprint(build("int8", mlp, "cpu").module)
    assert int8.parameters == dense.parameters
    assert int8.size_bytes < dense.size_bytes  # one byte per weight instead of four
    weights = sum(layer.weight.numel() for _, layer in prunable_layers(mlp))
    pruned = footprint(build("prune90", mlp, "cpu").module)
    assert dense.parameters - pruned.nonzero == pytest.approx(0.9 * weights, abs=3)


def test_cpu_peak_memory_covers_the_activations(mlp):
    rows = 1024
    peaks = peak_memory_bytes({"a": mlp, "b": build("prune50", mlp, "cpu").module}, torch.randn(rows, 40), "cpu")
    assert peaks["a"] == peaks["b"]  # same shapes, same allocations
    peak = peaks["a"]
    largest_activation = rows * 64 * 4  # float32 output of the first layer
    assert largest_activation <= peak <= 4 * rows * (64 + 64 + 32 + 32 + 2) * 4


def test_throughput_is_positive_and_grows_with_the_batch(mlp):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no contention with other processes' threads on a busy CI machine
    try:
        plan = TimingPlan(warmup=2, min_repeats=5, max_repeats=50, budget_s=0.05)
        x = torch.randn(100, 40)
        rates = [time_forward(mlp, batch_of(x, size), plan, "cpu").rows_per_s() for size in (1, 32, 256, 4096)]
    finally:
        torch.set_num_threads(threads)
    assert all(r > 0 and np.isfinite(r) for r in rates)
    assert rates[0] < rates[1] < rates[2]
    assert rates[3] > rates[0]


def test_batch_of_cycles_rows():
    x = torch.arange(3.0).reshape(3, 1)
    assert batch_of(x, 5).flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]


def test_timing_stops_once_the_median_ci_is_tight_and_not_before_min_repeats():
    plan = TimingPlan(warmup=0, min_repeats=3, max_repeats=100, budget_s=60.0, rel_ci=0.05)
    steady = [1.0] * 8
    assert median_ci_halfwidth(steady[:5]) == float("inf")  # too few calls for the order-statistic interval
    assert median_ci_halfwidth(steady) == 0.0 and plan.done(steady, elapsed=0.0)
    spread = [1.0, 2.0] * 10  # ranks 5 and 15 of 20 sorted calls: 1.0 and 2.0 around a median of 1.5
    assert median_ci_halfwidth(spread) == pytest.approx(0.5 / 1.5)
    assert not plan.done(spread, elapsed=1.0) and plan.done(spread, elapsed=60.0)
    assert not TimingPlan(0, 10, 100, 60.0, 0.05).done(steady, elapsed=0.0)  # below min_repeats
    assert "median's 95% CI is within ±5%" in plan.rule()
    x = torch.randn(64, 40)
    calls = time_forward(nn.Identity(), x, TimingPlan(0, 3, 1000, 60.0, 0.5), "cpu").seconds
    assert 9 <= len(calls) < 1000  # an identity is steady: it stops at the first calls that give an interval
