"""The efficiency suite end to end on a synthetic model; re-audit figures against fairlearn, sklearn and ART."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import accuracy_score

from audit.errors import AuditInputError
from audit.stats import bootstrap_indices, percentile_ci, resample_counts
from audit.suite import SuiteContext, validate_params
from audit.suites.efficiency import EfficiencyParams, EfficiencySuite
from audit.suites.efficiency.figures import Reference
from audit.suites.efficiency.reaudit import AttackSpec, bootstrap_gaps, fairlearn_gaps, group_count_gaps, pgd, predict
from audit.suites.efficiency.variants import build
from audit.testing import synthetic_tabular, tabular_model

SMALL = EfficiencyParams(variants=("fp32", "int8", "prune90"), batch_sizes=(1, 32), reference_batch=32,
                         warmup=1, min_repeats=3, max_repeats=10, timing_budget_s=0.01, attack_steps=3,
                         attack_rows=150, bootstrap_resamples=200)


@pytest.fixture(scope="module")
def setup():
    data = synthetic_tabular(n=1000, seed=5)
    model = tabular_model(data, seed=5, hidden=(32,))
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=Path("."))
    return data, model, ctx, EfficiencySuite().run(ctx, SMALL)


def _by_name(output) -> dict:
    return {m.name: m for m in output.measurements}


def test_fairness_changes_equal_fairlearn_on_the_same_predictions(setup):
    data, model, _, output = setup
    figures = _by_name(output)
    y = data.test.y.numpy()
    base = predict(model.module, data.test.x, "cpu")
    pruned = predict(build("prune90", model.module, "cpu").module, data.test.x, "cpu")
    for attribute in ("sex", "race"):
        groups = data.test.sensitive[attribute]
        dp = [demographic_parity_difference(y, p, sensitive_features=groups) for p in (base, pruned)]
        eo = [equalized_odds_difference(y, p, sensitive_features=groups) for p in (base, pruned)]
        assert figures[f"dp_difference_change[prune90,{attribute}]"].value == pytest.approx(dp[1] - dp[0], abs=1e-12)
        assert figures[f"eo_difference_change[prune90,{attribute}]"].value == pytest.approx(eo[1] - eo[0], abs=1e-12)
    drop = accuracy_score(y, base) - accuracy_score(y, pruned)
    assert figures["accuracy_drop[prune90]"].value == pytest.approx(drop, abs=1e-12)


def test_vectorised_bootstrap_gaps_match_fairlearn_on_each_resample():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    groups = rng.choice(["a", "b", "c"], 300)
    codes = np.unique(groups, return_inverse=True)[1]
    idx = bootstrap_indices(300, 4, seed=1)
    dp, eo = bootstrap_gaps(y, pred, codes, 3, 1, resample_counts(300, 4, 1, np.float32))
    for r in range(4):
        rows = idx[r]
        by = groups[rows]
        assert dp[r] == pytest.approx(demographic_parity_difference(y[rows], pred[rows], sensitive_features=by))
        assert eo[r] == pytest.approx(equalized_odds_difference(y[rows], pred[rows], sensitive_features=by))


def test_group_counts_and_one_metric_frame_equal_fairlearn_functions():
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    groups = rng.choice(["a", "b", "c", "d"], 400)
    dp = demographic_parity_difference(y, pred, sensitive_features=groups)
    eo = equalized_odds_difference(y, pred, sensitive_features=groups)
    for gaps in (group_count_gaps(y, pred, groups, 1), fairlearn_gaps(y, pred, pd.Series(groups), 1)):
        assert (gaps.dp, gaps.eo) == (pytest.approx(dp, abs=1e-12), pytest.approx(eo, abs=1e-12))


def test_shared_resample_weights_give_the_index_bootstrap_of_a_mean():
    values = np.random.default_rng(4).integers(0, 2, 250).astype(float)
    ref = Reference.of(np.zeros(250), 10, 300, 7, sensitive=pd.DataFrame(), positive=1, binary=True, epsilon=0.1,
                       attack_steps=1, reference_batch=1, min_group_size=1, timing_rule="")
    by_index = percentile_ci(values[bootstrap_indices(250, 300, 7)].mean(axis=1))
    assert ref.mean_ci(values) == pytest.approx(by_index, abs=1e-12)


def test_cell_resamples_give_the_row_bootstrap_of_a_mean_and_of_a_gap():
    """With `keys` the test rows are resampled as cells of rows alike in label, predictions and groups: the same
    distribution as resampling rows (each resample still holds every row count), at a cost set by the cells."""
    rng = np.random.default_rng(5)
    n = 2000
    y, base, variant = rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    codes = rng.choice(3, n, p=[0.5, 0.4, 0.1])
    keys = np.stack([y, base, variant, codes], axis=1)
    common = dict(sensitive=pd.DataFrame(), positive=1, binary=True, epsilon=0.1, attack_steps=1, reference_batch=1,
                  min_group_size=1, timing_rule="")
    cells = Reference.of(y, 10, 4000, 7, keys=keys, **common)
    rows = Reference.of(y, 10, 4000, 7, **common)
    assert cells.cells is not None and cells.cells.size <= 24 and (cells.weights.sum(axis=1) == n).all()
    drop = (base == y).astype(float) - (variant == y)
    np.testing.assert_allclose(cells.mean_ci(drop), rows.mean_ci(drop), atol=0.004)
    by_cells = bootstrap_gaps(y[cells.cells], base[cells.cells], codes[cells.cells], 3, 1, cells.weights)
    by_rows = bootstrap_gaps(y, base, codes, 3, 1, rows.weights)
    for ours, theirs in zip(by_cells, by_rows, strict=True):
        np.testing.assert_allclose(np.quantile(ours, [0.025, 0.5, 0.975]), np.quantile(theirs, [0.025, 0.5, 0.975]),
                                   atol=0.01)


def test_deployable_aliases_and_gated_figures(setup):
    _, _, _, output = setup
    figures = _by_name(output)
    for name in ("accuracy_drop", "fairness_regression", "throughput_speedup", "prediction_agreement"):
        assert figures[f"{name}[deployable]"].value == figures[f"{name}[int8]"].value
    assert figures["accuracy_drop[prune90]"].value > figures["accuracy_drop[int8]"].value  # 90% pruning hurts
    for name, m in figures.items():
        if name.startswith(("throughput_rows_per_s", "throughput_speedup")):
            assert m.value > 0
    robust = figures["robust_accuracy[fp32,linf,eps=0.1]"]
    assert robust.value <= figures["accuracy[fp32]"].value + 0.05
    assert figures["robust_accuracy_change[int8,linf,eps=0.1]"].details["attack"] == "PGD, transfer from fp32"
    assert {c.id for c in output.charts} == {"throughput_by_batch", "change_by_variant"}
    assert any("torch.ao.quantization.quantize_dynamic" in note for note in output.notes)
    assert [(v.name, v.passed) for v in output.validity] == [("fairness_matches_group_counts", True),
                                                             ("fairness_matches_fairlearn", True)]


def test_everything_but_timings_is_deterministic(setup):
    _, _, ctx, output = setup
    again = EfficiencySuite().run(ctx, SMALL)
    timing = ("latency_", "throughput_", "peak_memory")

    def stable(out):
        return [m for m in out.measurements if not m.name.startswith(timing)]

    assert stable(again) == stable(output)


def test_pgd_agrees_with_art(setup):
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    data, model, _, _ = setup
    x, y = data.test.x[:100], data.test.y[:100]
    ours = pgd(model.module, x, y, AttackSpec(0.2, 5, None, None), "logits")
    classifier = PyTorchClassifier(model.module, loss=torch.nn.CrossEntropyLoss(), input_shape=(x.shape[1],),
                                   nb_classes=2)
    attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=0.2, eps_step=0.1, max_iter=5,
                                      num_random_init=0, batch_size=100, verbose=False)
    theirs = torch.tensor(attack.generate(x.numpy(), y=y.numpy()))
    assert (ours - x).abs().max() <= 0.2 + 1e-6
    ours_acc = (predict(model.module, ours, "cpu") == y.numpy()).mean()
    theirs_acc = (predict(model.module, theirs, "cpu") == y.numpy()).mean()
    assert ours_acc == pytest.approx(theirs_acc, abs=0.03)


def test_attack_mask_leaves_categorical_columns_alone(setup):
    data, model, _, _ = setup
    mask = torch.tensor([1.0, 1.0, 0, 0, 0, 0, 0])
    x = data.test.x[:50]
    adv = pgd(model.module, x, data.test.y[:50], AttackSpec(0.3, 3, mask, None), "logits")
    assert torch.equal(adv[:, 2:], x[:, 2:])


def test_bad_params_are_input_errors():
    with pytest.raises(AuditInputError, match="deployable"):
        validate_params("efficiency", dataclasses.replace(SMALL, deployable="bf16"))
    with pytest.raises(AuditInputError, match="efficiency.variants .*'int4' is not"):
        validate_params("efficiency", dataclasses.replace(SMALL, variants=("fp32", "int4")))
