"""Every group metric, disparity and CI of the fairness suite against fairlearn / scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn import metrics as flm
from fairness_helpers import FAST, by_name, run_suite, table
from sklearn.metrics import accuracy_score, precision_score

from audit.stats import exact_float, resample_counts
from audit.suites.fairness.bootstrap import resampled_group_sums
from audit.suites.fairness.disparity import (
    GroupCounts,
    GroupRates,
    dp_difference,
    equalized_odds_difference,
    group_sums,
    indicator_matrix,
)
from audit.testing import synthetic_tabular, tabular_model


@pytest.fixture(scope="module")
def binary_case():
    data = synthetic_tabular(n=2000, seed=3)
    model = tabular_model(data, seed=3)
    return data, model, run_suite(model, data, **FAST)


def _predictions(data, model):
    return data.test.y.numpy(), model.predict(data.test.x)


def test_group_table_equals_fairlearn_metricframe(binary_case):
    data, model, out = binary_case
    y, pred = _predictions(data, model)
    rows = {(r[0], r[1]): r for r in table(out, "groups").rows}
    columns = table(out, "groups").columns
    metrics = {
        "n": flm.count, "selection_rate": flm.selection_rate, "accuracy": accuracy_score,
        "tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate, "fnr": flm.false_negative_rate,
        "precision": precision_score,
    }
    sensitive = data.test.sensitive
    for axis, features in (("sex", sensitive["sex"]), ("race", sensitive["race"]), ("sex×race", sensitive)):
        frame = flm.MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=features)
        base = flm.MetricFrame(metrics=flm.mean_prediction, y_true=y, y_pred=y, sensitive_features=features)
        for key, expected in frame.by_group.iterrows():
            group = key if isinstance(key, str) else "×".join(key)
            row = dict(zip(columns, rows[(axis, group)], strict=True))
            assert row["n"] == expected["n"]
            assert row["base_rate"] == pytest.approx(base.by_group[key], abs=5e-5)
            for name in ("selection_rate", "accuracy", "tpr", "fpr", "fnr", "precision"):
                assert row[name] == pytest.approx(expected[name], abs=5e-5), (axis, group, name)


def test_disparities_equal_fairlearn_functions(binary_case):
    data, model, out = binary_case
    y, pred = _predictions(data, model)
    found = by_name(out)
    sensitive = data.test.sensitive
    for prefix, axis, features in (("", "sex", sensitive["sex"]), ("", "race", sensitive["race"]),
                                   ("intersectional_", "sex×race", sensitive[["sex", "race"]])):
        kw = dict(y_true=y, y_pred=pred, sensitive_features=features)
        expected = {
            "dp_difference": flm.demographic_parity_difference(**kw),
            "disparate_impact_ratio": flm.demographic_parity_ratio(**kw),
            "equal_opportunity_difference": flm.equal_opportunity_difference(**kw),
            "equalized_odds_difference": flm.equalized_odds_difference(**kw),
            "accuracy_gap": flm.MetricFrame(metrics=accuracy_score, **kw).difference(),
            "worst_group_accuracy": flm.accuracy_score_group_min(**kw),
        }
        for metric, value in expected.items():
            m = found[f"{prefix}{metric}[{axis}]"]
            assert m.value == pytest.approx(value, rel=1e-12, abs=1e-12), (axis, metric)
            assert m.ci[0] <= m.ci[1]


def test_multiclass_disparities_equal_fairlearn():
    rng = np.random.default_rng(0)
    n, classes = 3000, 3
    y, pred = rng.integers(0, classes, n), rng.integers(0, classes, n)
    pred[:1000] = y[:1000]
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    codes = np.unique(groups, return_inverse=True)[1]
    membership = codes[None, :] == np.arange(3)[:, None]
    rates = GroupRates.of(GroupCounts.from_sums(group_sums(indicator_matrix(y, pred, 1, classes), membership)))
    from audit.suites.fairness.disparity import multiclass_dp_difference, worst_group_accuracy

    per_class = [flm.demographic_parity_difference(y == c, pred == c, sensitive_features=groups) for c in range(3)]
    assert float(multiclass_dp_difference(rates)) == pytest.approx(max(per_class), rel=1e-12)
    assert float(worst_group_accuracy(rates)) == pytest.approx(
        flm.accuracy_score_group_min(y, pred, sensitive_features=groups), rel=1e-12)


def test_vectorised_resamples_equal_fairlearn_on_the_same_resampled_rows():
    """One matrix product per axis gives exactly what fairlearn computes on each explicitly resampled data set."""
    rng = np.random.default_rng(1)
    n = 500
    y, pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    groups = rng.choice(["F", "M", "X"], n, p=[0.45, 0.45, 0.1])
    codes = np.unique(groups, return_inverse=True)[1]
    membership = codes[None, :] == np.arange(3)[:, None]
    weights = resample_counts(n, 20, 7, exact_float(n))
    index = np.random.default_rng(7).integers(0, n, size=(20, n))  # the same draws, as row indices
    boot = GroupRates.of(GroupCounts.from_sums(resampled_group_sums(weights, indicator_matrix(y, pred, 1, 2),
                                                                    membership)))
    for r in range(20):
        rows = index[r]
        kw = dict(y_true=y[rows], y_pred=pred[rows], sensitive_features=groups[rows])
        assert dp_difference(boot)[r] == pytest.approx(flm.demographic_parity_difference(**kw), rel=1e-12)
        assert equalized_odds_difference(boot)[r] == pytest.approx(flm.equalized_odds_difference(**kw), rel=1e-12)


def test_cell_resamples_have_the_row_bootstrap_distribution():
    """Drawing cell counts (rows alike in group, label and prediction) is a row bootstrap: each resample keeps n
    rows, and the demographic-parity gap's resampling distribution matches fairlearn's on explicit row resamples."""
    from audit.suites.fairness.bootstrap import cell_resamples

    rng = np.random.default_rng(2)
    n = 600
    y, pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    groups = rng.choice(["F", "M", "X"], n, p=[0.45, 0.45, 0.1])
    codes = np.unique(groups, return_inverse=True)[1]
    membership = codes[None, :] == np.arange(3)[:, None]
    rows, counts = cell_resamples(np.stack([codes, y, pred], axis=1), 4000, np.random.default_rng(5))
    assert rows.size <= 12 and (counts.sum(axis=1) == n).all()
    boot = GroupRates.of(GroupCounts.from_sums(resampled_group_sums(counts, indicator_matrix(y, pred, 1, 2)[rows],
                                                                    membership[:, rows])))
    index = np.random.default_rng(6).integers(0, n, size=(1000, n))
    by_rows = [flm.demographic_parity_difference(y[i], pred[i], sensitive_features=groups[i]) for i in index]
    ours = dp_difference(boot)
    assert ours.mean() == pytest.approx(np.mean(by_rows), abs=0.006)
    assert ours.std() == pytest.approx(np.std(by_rows), rel=0.1)
    np.testing.assert_allclose(np.quantile(ours, [0.025, 0.975]), np.quantile(by_rows, [0.025, 0.975]), atol=0.012)


def test_bootstrap_ci_close_to_fairlearn_bootstrap():
    data = synthetic_tabular(n=5000, seed=4)
    model = tabular_model(data, seed=4, epochs=40)
    out = run_suite(model, data, seed=0, **{**FAST, "resamples": 200, "intersections": False})
    y, pred = _predictions(data, model)
    sex = data.test.sensitive["sex"]
    frame = flm.MetricFrame(metrics={"sel": flm.selection_rate}, y_true=y, y_pred=pred, sensitive_features=sex,
                            n_boot=200, ci_quantiles=[0.025, 0.975], random_state=0)
    ours = by_name(out)["dp_difference[sex]"]
    assert ours.value == pytest.approx(frame.difference()["sel"], rel=1e-12)
    lo, hi = (frame.difference_ci()[i]["sel"] for i in (0, 1))
    assert ours.ci[0] == pytest.approx(lo, abs=0.015)
    assert ours.ci[1] == pytest.approx(hi, abs=0.015)
    assert ours.ci[1] - ours.ci[0] == pytest.approx(hi - lo, rel=0.25)
