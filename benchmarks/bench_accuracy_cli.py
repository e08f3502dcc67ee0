"""`audit run --suite accuracy` on the cached adult-mlp, end to end, and the start-up before any model loads.

Recorded as CPU seconds of the child process (user + system; wall time says little on a shared machine):
- `run_cpu_s`: the whole command (target: under 15 s wall on 2 quiet cores; about 3 s CPU with the model cached);
- `startup_cpu_s`: importing the CLI and validating a config, which must not import torch, pandas or scipy;
- `accuracy_duration_s`: the suite's own duration from scorecard.json (target: 0.3 s in the quick preset).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

_STARTUP = """
import sys
from audit.config import load_config
from audit import registry
load_config({"suite": "accuracy", "model": "adult-mlp"}, None)
registry.names()
heavy = [m for m in ("torch", "pandas", "scipy") if m in sys.modules]
assert not heavy, heavy
"""


def _child_cpu(args: list[str]) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.run(args, capture_output=True, check=False).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


@pytest.fixture(scope="module")
def cached() -> None:
    """The target is for the cached model: load (training it only if it is not cached yet)."""
    from audit.models.zoo import load_zoo_model

    load_zoo_model("adult-mlp", device="cpu")


def test_accuracy_suite_on_cached_adult_mlp(benchmark, cached: None, tmp_path: Path) -> None:
    cpu: list[float] = []

    def run() -> int:
        seconds, code = _child_cpu([sys.executable, "-m", "audit", "run", "--suite", "accuracy", "--device", "cpu",
                                    "--model", "adult-mlp", "--out", str(tmp_path)])
        cpu.append(seconds)
        return code

    code = benchmark.pedantic(run, rounds=3, iterations=1)
    assert code in (0, 1)
    scorecard = json.loads((tmp_path / "scorecard.json").read_text())
    benchmark.extra_info["run_cpu_s"] = round(min(cpu), 3)
    benchmark.extra_info["accuracy_duration_s"] = next(r["duration_s"] for r in scorecard["results"]
                                                       if r["suite"] == "accuracy")


def test_startup_before_the_model_loads(benchmark) -> None:
    cpu: list[float] = []

    def probe() -> int:
        seconds, code = _child_cpu([sys.executable, "-c", _STARTUP])
        cpu.append(seconds)
        return code

    assert benchmark.pedantic(probe, rounds=3, iterations=1) == 0
    benchmark.extra_info["startup_cpu_s"] = round(min(cpu), 3)
