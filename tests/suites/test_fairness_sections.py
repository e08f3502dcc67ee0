"""Counterfactual flip test, proxy detection and mitigation preview of the fairness suite."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference
from fairness_helpers import by_name, run_suite, sex_blind, sex_only, table

from audit.data.types import FeatureSpec
from audit.testing import synthetic_tabular, tabular_model

NO_EXTRAS = dict(resamples=40, flip_test=False, proxies=False, mitigation=False)


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=1500, seed=8)


def test_sex_blind_model_has_zero_flips(data):
    out = run_suite(sex_blind(data), data, **{**NO_EXTRAS, "flip_test": True})
    flip = by_name(out)["flip_rate[sex]"]
    assert flip.value == 0.0 and flip.ci[0] == 0.0
    assert all(r[4] == 0 for r in table(out, "flip_test").rows)
    assert all(v.passed for v in out.validity)


def test_sex_only_model_flips_every_decision_in_the_right_direction(data):
    out = run_suite(sex_only(data), data, **{**NO_EXTRAS, "flip_test": True})
    rows = {(r[1], r[2]): r for r in table(out, "flip_test").rows}
    n_female = int((data.test.sensitive["sex"] == "Female").sum())
    assert rows[("Female", "Male")][3:] == (n_female, n_female, 1.0, n_female)  # all become favourable
    assert rows[("Male", "Female")][6] == 0
    assert by_name(out)["flip_rate[sex]"].value == 1.0


def test_flip_test_skipped_when_sensitive_attribute_is_not_an_input():
    data = synthetic_tabular(n=600, seed=9, sex_in_features=False)
    out = run_suite(tabular_model(data, epochs=20), data, **{**NO_EXTRAS, "flip_test": True})
    assert not any(m.name.startswith("flip_rate") for m in out.measurements)
    assert any("flip test not run" in n.lower() for n in out.notes)


def test_scaled_one_hot_fails_the_flip_encoding_check(data):
    x = data.test.x.clone()
    spec = data.feature("sex")
    x[:, list(spec.columns)] = x[:, list(spec.columns)] * 2.0 - 0.5  # standardised-looking one-hot
    scaled = dataclasses.replace(data, test=dataclasses.replace(data.test, x=x))
    out = run_suite(sex_blind(scaled), scaled, **{**NO_EXTRAS, "flip_test": True})
    check = next(v for v in out.validity if v.name == "flip_encoding[sex]")
    assert not check.passed


def test_numeric_sensitive_input_with_few_values_is_flipped_by_value(data):
    x = torch.cat([data.test.x, torch.tensor(np.arange(len(data.test)) % 3, dtype=torch.float32)[:, None]], dim=1)
    spec = FeatureSpec("band", "numeric", (x.shape[1] - 1,), sensitive=True)
    model = sex_blind(data)
    banded = dataclasses.replace(data, features=data.features + (spec,), test=dataclasses.replace(data.test, x=x))
    out = run_suite(model, banded, **{**NO_EXTRAS, "flip_test": True})
    assert by_name(out)["flip_rate[band]"].details["values"] == ["0", "1", "2"]


def test_proxy_feature_is_found(data):
    rng = np.random.default_rng(0)
    male = (data.test.sensitive["sex"] == "Male").to_numpy()
    proxy = torch.tensor(np.where(rng.random(len(male)) < 0.9, male, ~male), dtype=torch.float32)[:, None]
    x = torch.cat([data.test.x, proxy], dim=1)
    spec = FeatureSpec("spouse_role", "numeric", (x.shape[1] - 1,))
    with_proxy = dataclasses.replace(data, features=data.features + (spec,), test=dataclasses.replace(data.test, x=x))
    out = run_suite(sex_blind(data), with_proxy, **{**NO_EXTRAS, "proxies": True})
    auroc = by_name(out)["proxy_auroc[sex]"]
    assert 0.85 < auroc.value <= 1.0 and auroc.ci[0] < auroc.value < auroc.ci[1]
    top = next(r for r in table(out, "proxies").rows if r[0] == "sex")
    assert top[1] == "spouse_role"
    race_auroc = by_name(out)["proxy_auroc[race]"].value
    assert race_auroc < auroc.value  # race has no planted proxy ...
    assert not any(r[0] == "race" for r in table(out, "proxies").rows)  # ... so none is listed for it


def test_mitigation_preview_narrows_the_gap_it_targets(data):
    model = tabular_model(data, seed=8, epochs=40)
    out = run_suite(model, data, **{**NO_EXTRAS, "mitigation": True, "attributes": ("sex",)})
    rows = {r[1]: r for r in table(out, "mitigation").rows}
    dp_row, eo_row = rows["demographic_parity"], rows["equalized_odds"]
    assert dp_row[6] < dp_row[5]  # dp difference after < before
    assert eo_row[8] < eo_row[7]  # eo difference after < before
    m = by_name(out)["mitigation_accuracy_cost[sex,demographic_parity]"]
    assert m.value == pytest.approx(dp_row[3] - dp_row[4], abs=1e-3)


def test_mitigation_before_figures_equal_fairlearn():
    from audit.suites.fairness.mitigation import BinaryOutcomes, preview

    rng = np.random.default_rng(4)
    n = 800
    groups = rng.choice(np.array(["a", "b"]), n)
    y = rng.random(n) < np.where(groups == "a", 0.6, 0.3)
    scores = np.clip(0.5 * y + 0.4 * rng.random(n) + 0.1 * (groups == "a"), 0, 1)
    halves = (np.arange(0, n, 2), np.arange(1, n, 2))
    outcome = preview(BinaryOutcomes(scores, scores >= 0.5, y), groups, "g", "demographic_parity", halves, seed=0)
    ev = halves[1]
    expected = demographic_parity_difference(y[ev], scores[ev] >= 0.5, sensitive_features=groups[ev])
    assert outcome.dp_difference_before == pytest.approx(expected, rel=1e-12)
    assert outcome.dp_difference_after < outcome.dp_difference_before


def test_float32_proxy_classifier_matches_a_float64_sklearn_fit(data):
    """The proxy check fits on float32 inputs; its AUROC equals scikit-learn's float64 pipeline on the same rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audit.suites.fairness.proxies import candidate_features, detect_proxies, stratified_halves

    features = candidate_features(data)
    columns = [c for spec in features for c in spec.columns]
    labels = data.test.sensitive["sex"].astype(str).to_numpy()
    x64 = data.test.x.numpy().astype(np.float64)
    ours = detect_proxies(x64.astype(np.float32), labels, "sex", features, np.random.default_rng(3), 20, 10_000)
    fit, held = stratified_halves(labels, np.random.default_rng(3), 10_000)
    inputs = x64[:, columns]
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(inputs[fit], labels[fit])
    expected = roc_auc_score(labels[held] == reference.classes_[1], reference.predict_proba(inputs[held])[:, 1])
    assert ours.auroc == pytest.approx(expected, abs=1e-3)
