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


# ---- black-box explainers at equal fidelity --------------------------------------------------------------------

FIDELITY = 0.05  # mean |φ - exact| / mean |exact|: the error both explainers must reach
BUDGETS = (64, 128, 256, 512, 1024, 2048, 4096)  # model evaluations per explained row (times the background)


def _relative_error(values: np.ndarray, exact: np.ndarray) -> float:
    return float(np.abs(values - exact).mean() / np.abs(exact).mean())


def _first_within(method: str, model, positive: int, x, background, exact, width: int) -> dict:
    """The smallest budget at which `method` reaches FIDELITY, with its wall time (seconds) there."""
    from audit.suites.explainability.attribution import ExplainerSpec, explain

    for budget in BUDGETS:
        spec = ExplainerSpec(method, nsamples=budget, kernel_background=len(background),
                             permutations=max(1, budget // (2 * width + 1)))
        started = time.perf_counter()
        values = explain(model, positive, x, background, spec, seed=0).values
        seconds = time.perf_counter() - started
        error = _relative_error(values, exact)
        if error <= FIDELITY:
            return {"budget": budget, "seconds": seconds, "error": error}
    return {"budget": None, "seconds": None, "error": error}


def test_kernel_vs_permutation_explainer_at_equal_fidelity(benchmark):
    """compas-mlp (16 input columns): exact interventional Shapley values (shap's ExactExplainer, all 2^16
    coalitions) on 5 rows against 20 background rows, then each black-box explainer at growing budgets."""
    import shap

    from audit.suites.explainability.attribution import DecisionOutput

    model, data = load_zoo_model("compas-mlp")
    x, background = data.test.x[:5], data.train.x[:20]
    width = x.shape[1]
    head = DecisionOutput(model.module, model.task, model.outputs, data.positive_class).eval()

    def decision(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return head(torch.as_tensor(rows, dtype=torch.float32)).numpy()

    masker = shap.maskers.Independent(background.numpy(), max_samples=len(background))
    exact = np.asarray(shap.ExactExplainer(decision, masker)(x.numpy()).values).reshape(len(x), width)

    def compare() -> dict:
        return {m: _first_within(m, model, data.positive_class, x, background, exact, width)
                for m in ("kernel", "permutation")}

    found = benchmark.pedantic(compare, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({"fidelity": FIDELITY, "rows": len(x), "background": len(background),
                                 **{f"{m}_{k}": v for m, r in found.items() for k, v in r.items()}})
