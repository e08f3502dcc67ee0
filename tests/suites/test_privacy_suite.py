"""The privacy suite end to end on synthetic data: contract, determinism, bad input, attribute inference."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from audit.data.types import Split
from audit.errors import AuditInputError, SuiteSkipped
from audit.policy import Policy, parse_thresholds
from audit.suite import SuiteContext, SuiteOutput, validate_params
from audit.suites.privacy import PrivacyParams, PrivacySuite
from audit.suites.privacy.attribute import infer_attribute
from audit.suites.privacy.sampling import NO_TRAINING_DATA
from audit.testing import synthetic_tabular, tabular_model, wrap_module

SMALL = PrivacyParams(max_per_side=300, shadow_models=4, bootstrap_resamples=100, attribute_rows=240, shift_rows=300)


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(800, seed=3)


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data, epochs=60)


def _run(model, data, params: PrivacyParams = SMALL, seed: int = 0) -> SuiteOutput:
    ctx = SuiteContext(model=model, data=data, seed=seed, preset="quick", cache_dir=Path("."))
    return PrivacySuite().run(ctx, params)


@pytest.fixture(scope="module")
def output(model, data) -> SuiteOutput:
    return _run(model, data)


def test_reports_every_attack_with_cis_and_the_roc_chart(output: SuiteOutput) -> None:
    names = {m.name for m in output.measurements}
    for attack in ("loss", "correctness", "art_blackbox", "label_only", "lira_online", "lira_offline"):
        assert f"membership_auc[{attack}]" in names
        assert f"membership_tpr[{attack},fpr=0.01]" in names
        assert f"epsilon_lower_bound[{attack}]" in names
    expected = {"epsilon_lower_bound", "attribute_inference_auc_gain[sex]",
                "membership_advantage[lira_online,sex=Male]"}
    assert expected <= names
    auc = next(m for m in output.measurements if m.name == "membership_auc[lira_online]")
    assert auc.ci[0] <= auc.value <= auc.ci[1] and auc.n == 600 and auc.details["shadow_models"] == 4
    tpr = next(m for m in output.measurements if m.name == "membership_tpr[loss,fpr=0.001]")
    assert tpr.insufficient_reason  # 300 non-members cannot support a 0.1% FPR figure
    chart = output.charts[0]
    assert chart.log_x and chart.log_y and len(chart.series) == 7
    assert all(min(s.x) > 0 and min(s.y) > 0 for s in chart.series)
    assert {t.id for t in output.tables} == {"privacy-attacks", "privacy-groups", "privacy-attribute-inference"}
    checks = ["privacy.members_like_nonmembers", "privacy.shadow_models_match_target"]
    assert [v.name for v in output.validity] == checks
    assert all(v.passed for v in output.validity)
    json.dumps([dataclasses.asdict(m) for m in output.measurements])


def test_same_seed_same_figures(model, data, output: SuiteOutput) -> None:
    again = _run(model, data)
    def figures(out: SuiteOutput) -> list:
        return [(m.name, m.value, m.ci) for m in out.measurements]

    assert figures(again) == figures(output)


def test_without_a_recipe_lira_is_skipped_with_the_reason(model, data) -> None:
    plain = wrap_module(model.module, data)
    out = _run(plain, data, dataclasses.replace(SMALL, attribute_rows=100))
    assert not any("lira" in m.name for m in out.measurements)
    assert any("LiRA not run" in note and "recipe" in note for note in out.notes)
    assert any(m.name == "membership_auc[loss]" for m in out.measurements)


def test_without_training_rows_the_suite_is_skipped(model, data) -> None:
    for train in (None, data.train.subset(torch.arange(0))):
        with pytest.raises(SuiteSkipped, match=r"--train-data"):
            _run(model, dataclasses.replace(data, train=train))
    assert "--train-data" in NO_TRAINING_DATA


def _with_test_rows(data, rows: Split):
    t = data.test
    import pandas as pd

    return dataclasses.replace(data, test=Split(torch.cat([t.x, rows.x]), torch.cat([t.y, rows.y]),
                                                pd.concat([t.sensitive, rows.sensitive], ignore_index=True)))


def test_overlapping_rows_are_counted_and_excluded(model, data) -> None:
    copied = data.train.subset(torch.arange(25))
    out = _run(model, _with_test_rows(data, copied), dataclasses.replace(SMALL, shadow_models=0))
    assert any(note.startswith("25 held-out rows are identical to training rows") for note in out.notes)


def test_mostly_overlapping_data_is_an_input_error(model, data) -> None:
    same = dataclasses.replace(data, test=data.train)
    with pytest.raises(AuditInputError, match="also appear in the training data"):
        _run(model, same)


@pytest.mark.parametrize("bad", [{"shadow_models": 3}, {"shadow_models": 2}, {"art_attack_model": "xgb"},
                                 {"bootstrap_resamples": 10}, {"shadow_epochs": 0}])
def test_bad_params_are_input_errors(bad) -> None:
    with pytest.raises(AuditInputError, match="privacy"):
        validate_params("privacy", dataclasses.replace(SMALL, **bad))


def test_presets_and_params_are_json_values() -> None:
    suite = PrivacySuite()
    assert suite.params_for("full").shadow_models == 16
    assert suite.params_for("quick").shadow_models < 16
    json.dumps(dataclasses.asdict(suite.params_for("full")))
    with pytest.raises(AuditInputError):
        suite.params_for("fast")


def test_default_policy_gates_measurements_the_suite_produces(output: SuiteOutput) -> None:
    table = tomllib.loads((resources.files("audit.policy") / "privacy.toml").read_text())
    policy = Policy(tuple(t for t in parse_thresholds(table, "value", "privacy.toml").values() if t))
    keys = [f"privacy.{m.name}" for m in output.measurements]
    for threshold in policy.thresholds:
        assert any(policy.match(k) == threshold for k in keys), threshold.metric
    assert policy.match("privacy.membership_tpr[loss,fpr=0.001]") is None


def test_attribute_gain_matches_sklearn_and_finds_an_encoded_attribute() -> None:
    rng = np.random.default_rng(0)
    n = 400
    groups = rng.choice(["f", "m"], n)
    known = rng.normal(size=(n, 3)) + 0.3 * (groups == "m")[:, None]
    leaky = np.c_[0.2 + 0.6 * (groups == "m") + rng.normal(0, 0.05, n), np.zeros(n)]
    leaky[:, 1] = 1 - leaky[:, 0]
    result = infer_attribute("sex", known, leaky, groups, resamples=200, seed=0)
    target = (groups == "m").astype(int)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    # lbfgs run to convergence: ours solves the same objective exactly (Newton), sklearn's default tol stops ~1e-4 short
    baseline = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, tol=1e-10)), known,
                                 target, cv=folds, method="predict_proba")[:, 1]
    assert result.baseline_auc == pytest.approx(roc_auc_score(target, baseline))
    assert result.attacker_auc > 0.95 and result.auc_gain_ci[0] > 0.2
    noise = rng.dirichlet([1, 1], n)
    null = infer_attribute("sex", known, noise, groups, resamples=200, seed=0)
    assert abs(null.attacker_auc - null.baseline_auc) < 0.05


def test_quick_preset_leaves_out_arts_attack_and_says_so(model, data, output: SuiteOutput) -> None:
    from audit.suites.privacy.suite import PRESETS

    assert PRESETS["quick"].art_attack_model == "none" and PRESETS["full"].art_attack_model == "gb"
    without = _run(model, data, dataclasses.replace(SMALL, art_attack_model="none"))
    names = {m.name for m in without.measurements}
    assert not any("art_blackbox" in name for name in names)
    assert any("art_attack_model" in note and "not run" in note for note in without.notes)
    kept = {m.name: (m.value, m.ci) for m in output.measurements if "art_blackbox" not in m.name}
    assert {m.name: (m.value, m.ci) for m in without.measurements} == kept  # the other attacks are untouched
