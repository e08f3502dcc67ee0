"""Efficiency on an image model: batches above image_batch_cap are not timed and a note says so; white-box attacks
on variants may stop rows once fooled, never weaker than running every step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.suite import SuiteContext
from audit.suites.efficiency import EfficiencyParams, EfficiencySuite
from audit.suites.efficiency.reaudit import AttackSpec, pgd, predict
from tests.suites.robustness_helpers import image_data_and_linear_model

SMALL = EfficiencyParams(variants=("fp32", "bf16"), batch_sizes=(1, 32, 512), reference_batch=32, warmup=0,
                         min_repeats=2, max_repeats=3, timing_budget_s=0.0, attack_steps=3, attack_rows=40,
                         bootstrap_resamples=100, image_batch_cap=32)


def test_image_batches_above_the_cap_are_not_timed_and_said_so():
    data, model = image_data_and_linear_model(n=64)
    out = EfficiencySuite().run(SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=Path(".")),
                                SMALL)
    names = [m.name for m in out.measurements]
    assert "throughput_rows_per_s[fp32,batch=32]" in names
    assert not any("batch=512" in n for n in names)
    assert any("batch size(s) 512 not timed" in n for n in out.notes)
    assert any("first misclassified PGD iterate" in n for n in out.notes)


def test_stopping_rows_once_fooled_is_never_weaker():
    data, model = image_data_and_linear_model(n=64)
    x, y = data.test.x, data.test.y
    spec = AttackSpec(0.03, 5, None, (0.0, 1.0), stop_when_fooled=True)
    full = predict(model.module, pgd(model.module, x, y, spec, "logits"), "cpu") == y.numpy()
    early = predict(model.module, pgd(model.module, x, y, spec, "logits", stop_when_fooled=True), "cpu") == y.numpy()
    assert not np.any(early & ~full)  # every row the full attack fools, the early-stopped one fools too
