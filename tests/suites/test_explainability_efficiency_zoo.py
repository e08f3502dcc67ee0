"""Both suites, quick preset, on the real adult-mlp from the zoo (trained once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.models.zoo import load_zoo_model
from audit.suite import SuiteContext
from audit.suites.efficiency import EfficiencySuite
from audit.suites.explainability import ExplainabilitySuite


@pytest.mark.slow
def test_quick_presets_on_adult_mlp(tmp_path: Path) -> None:
    model, data = load_zoo_model("adult-mlp")
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=tmp_path)
    explained = ExplainabilitySuite().run(ctx, ExplainabilitySuite().params_for("quick"))
    figures = {m.name: m for m in explained.measurements}
    sensitive = [f.name for f in data.features if f.sensitive]
    assert sensitive and all(f"sensitive_reliance[{name}]" in figures for name in sensitive)
    importance = next(t for t in explained.tables if t.id == "global_importance")
    assert len(importance.rows) == len(data.features)  # one-hot columns summed back to their feature
    assert all(check.passed for check in explained.validity)

    suite = EfficiencySuite()
    measured = suite.run(ctx, suite.params_for("quick"))
    names = {m.name for m in measured.measurements}
    assert {"accuracy_drop[deployable]", "fairness_regression[deployable]", "throughput_speedup[deployable]"} <= names
    assert all(check.passed for check in measured.validity)
