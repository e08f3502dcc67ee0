"""Whole-preset targets on 2 CPU cores (issue 16): MNIST full preset ≤ 60 s, Adult full preset ≤ 20 s, Adult
quick ≤ 6 s. Run: pytest benchmarks/bench_presets.py --benchmark-only

Each round is one `audit run` subprocess on the cached zoo model. `extra_info` records the wall time, the CPU
time of the child (resource.getrusage(RUSAGE_CHILDREN), user + system: the honest figure on a shared, loaded
machine), each suite's own duration from scorecard.json, and the robustness figures with the attack work
actually used, so a faster run cannot quietly trade away attack strength.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.models.zoo import load_zoo_model

TARGETS_S = {("mnist-cnn", "full"): 60.0, ("adult-mlp", "full"): 20.0, ("adult-mlp", "quick"): 6.0}


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _robustness_figures(scorecard: dict) -> dict[str, object]:
    robustness = next((r for r in scorecard["results"] if r["suite"] == "robustness"), None)
    if robustness is None:
        return {}
    figures = {m["name"]: [m["value"], m["ci"], m["n"], m["details"].get("look"), m["details"].get("gradient_steps")]
               for m in robustness["measurements"] if m["name"].startswith("robust_accuracy[")}
    return {"robust_accuracy[value, ci, rows, look, gradient_steps]": figures,
            "robustness_validity": {v["name"]: v["passed"] for v in robustness["validity"]}}


@pytest.mark.parametrize(("model", "preset"), list(TARGETS_S))
def test_preset_end_to_end(benchmark, model: str, preset: str, tmp_path: Path) -> None:
    load_zoo_model(model)  # trains and caches on first use: the targets are for the cached model
    out = tmp_path / "run"
    cpu_before, wall_before = _child_cpu_s(), time.perf_counter()

    def run() -> int:
        cmd = [sys.executable, "-m", "audit", "run", "--model", model, "--suite", preset, "--device", "cpu",
               "--out", str(out)]
        return subprocess.run(cmd, capture_output=True).returncode

    code = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    wall, cpu = time.perf_counter() - wall_before, _child_cpu_s() - cpu_before
    assert code in (0, 1), f"audit run exited {code}"
    scorecard = json.loads((out / "scorecard.json").read_text())
    benchmark.extra_info.update({
        "target_s": TARGETS_S[(model, preset)], "wall_s": round(wall, 1), "child_cpu_s": round(cpu, 1),
        "suite_s": {r["suite"]: r["duration_s"] for r in scorecard["results"]}, **_robustness_figures(scorecard),
    })
