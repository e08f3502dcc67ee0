"""Black-box paths on an ONNX model (run: pytest benchmarks/bench_blackbox.py --benchmark-only).

Target on a 2-core CPU: HopSkipJump (decision-based, L∞, masked; the full preset's 20 iterations and at most
200 boundary queries per iteration) on 500 Adult test rows with adult-mlp exported to ONNX < 60 s. The robust
accuracy it finds at the audited ε, the model calls per row and onnxruntime's thread count go to `extra_info`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.models.onnx_model import load_onnx_model
from audit.models.zoo import load_zoo_model
from audit.suites.robustness.decision_based import HopSkipJumpSettings, hop_skip_jump
from audit.suites.robustness.params import RobustnessParams
from audit.suites.robustness.threat import build_space

ROWS = 500


def export_onnx(module: torch.nn.Module, n_features: int, path: Path) -> Path:
    """A torch MLP as a self-contained ONNX graph with a dynamic batch (the legacy exporter: no onnxscript)."""
    torch.onnx.export(module.eval(), (torch.zeros(4, n_features),), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    return path


@pytest.fixture(scope="module")
def onnx_adult(tmp_path_factory):
    torch_model, data = load_zoo_model("adult-mlp")  # trains and caches under $AUDIT_HOME on first use
    path = export_onnx(torch_model.module, data.test.x.shape[1], tmp_path_factory.mktemp("onnx") / "adult-mlp.onnx")
    return load_onnx_model(path, data), data


def test_hopskipjump_adult_500_rows_onnx(benchmark, onnx_adult):
    model, data = onnx_adult
    p = RobustnessParams()
    space = build_space(data, p.immutable_features)
    u, y = space.to_u(data.test.x[:ROWS]), data.test.y[:ROWS]
    settings = HopSkipJumpSettings(iterations=p.decision_iterations, max_evals=p.decision_max_evals)

    def decide(batch: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(model.predict(space.to_x(batch)))

    def attack():
        return hop_skip_jump(decide, space, u, y, settings, torch.Generator().manual_seed(0))

    cpu_before = time.process_time()
    found = benchmark.pedantic(attack, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info["cpu_seconds"] = time.process_time() - cpu_before  # the wall time includes other load
    clean = decide(u).numpy() == y.numpy()
    flipped = decide(found.u_adv).numpy() != y.numpy()
    dist = found.distance.numpy()
    benchmark.extra_info.update({
        "rows": ROWS, "iterations": settings.iterations, "max_evals": settings.max_evals,
        "queries_per_row": found.queries, "clean_accuracy": float(clean.mean()),
        **{f"robust_accuracy_eps_{eps:g}": float(np.mean(clean & ~(flipped & (dist <= eps)))) for eps in (0.1, 0.25)},
        "rows_without_adversarial_start": int(np.isinf(dist).sum()),
    })
