"""Speed target of the data suite (run: pytest benchmarks/bench_data.py --benchmark-only).

Target on a 2-core CPU: the whole suite at the full preset on UCI Adult (32,561 training + 16,281 audit
rows) with the cached adult-mlp, under 20 s: representation, label bias and missingness with 1,000
resamples, leakage, label errors (5-fold cross-validation retraining the recipe on a 5,000-row sample),
per-feature shift and the domain classifier (10,000 rows a side, 100 rounds), and generalisation.
The model is trained/cached before timing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from audit.models.zoo import load_zoo_model
from audit.suite import SuiteContext
from audit.suites.data import DataSuite


@pytest.fixture(scope="module")
def adult():
    return load_zoo_model("adult-mlp")  # trains and caches under $AUDIT_HOME on first use


@pytest.mark.parametrize("preset", ["full", "quick"])
def test_data_suite_on_adult(benchmark, adult, preset: str) -> None:
    model, data = adult
    assert (len(data.train), len(data.test)) == (32_561, 16_281)
    suite = DataSuite()
    ctx = SuiteContext(model=model, data=data, seed=0, preset=preset, cache_dir=Path(tempfile.mkdtemp()))
    output = benchmark.pedantic(suite.run, args=(ctx, suite.params_for(preset)), rounds=1, iterations=1)
    figures = {m.name: m.value for m in output.measurements}
    benchmark.extra_info.update({k: figures[k] for k in ("shift_auc", "leakage_exact_share", "generalisation_gap")})
    assert 0.4 < figures["shift_auc"] < 0.6
