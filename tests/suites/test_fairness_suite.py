"""Behaviour of the fairness suite: evidence rules, bad input, determinism, policy outcomes, report content."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from fairness_helpers import FAST, by_name, run_suite, sex_only, table

from audit.errors import AuditInputError, SuiteSkipped
from audit.gating import checks_for
from audit.policy import build_policy
from audit.registry import apply_overrides
from audit.suites.fairness import FairnessParams, FairnessSuite
from audit.testing import synthetic_tabular, tabular_model, wrap_module
from audit.types import SuiteResult, SuiteStatus, Verdict, to_json_dict


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=1200, seed=5)


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data, seed=5, epochs=40)


def _with_sensitive(data, **columns):
    sensitive = data.test.sensitive.copy()
    for name, values in columns.items():
        sensitive[name] = values
    test = dataclasses.replace(data.test, sensitive=sensitive)
    return dataclasses.replace(data, test=test, sensitive_attributes=tuple(sensitive.columns))


def _checks(out, suite="fairness"):
    result = SuiteResult(suite=suite, pillar="fairness", status=SuiteStatus.OK, measurements=out.measurements,
                         validity=out.validity)
    return {c.key: c for c in checks_for(result, build_policy([], "value"))}


def test_same_seed_same_output_and_params_are_json(data, model):
    params = dict(resamples=60, mitigation=True)
    first, second = run_suite(model, data, seed=3, **params), run_suite(model, data, seed=3, **params)
    assert to_json_dict(first) == to_json_dict(second)
    other = run_suite(model, data, seed=4, **params)
    assert by_name(other)["dp_difference[sex]"].ci != by_name(first)["dp_difference[sex]"].ci
    json.dumps(dataclasses.asdict(FairnessSuite().params_for("full")))


def test_small_group_is_insufficient_evidence_and_stays_in_the_table(data, model):
    region = np.where(np.arange(len(data.test)) < 12, "island", "mainland")
    out = run_suite(model, _with_sensitive(data, region=region), attributes=("sex", "region"), **FAST)
    m = by_name(out)
    assert "island" in m["dp_difference[region]"].insufficient_reason
    assert "n=12" in m["dp_difference[region]"].insufficient_reason
    assert m["dp_difference[sex]"].insufficient_reason is None
    row = next(r for r in table(out, "groups").rows if r[:2] == ("region", "island"))
    assert row[2] == 12 and row[-1].startswith("insufficient-evidence")
    assert _checks(out)["fairness.disparate_impact_ratio[region]"].verdict is Verdict.INSUFFICIENT_EVIDENCE


def test_group_without_positives_is_insufficient_for_tpr_figures(data, model):
    y = data.test.y.numpy()
    group = np.where((y == 0) & (np.arange(len(y)) % 3 == 0), "no-positives", "rest")
    out = run_suite(model, _with_sensitive(data, slice=group), attributes=("slice",), **FAST)
    m = by_name(out)
    assert "0 favourable labels" in m["equal_opportunity_difference[slice]"].insufficient_reason
    assert m["dp_difference[slice]"].insufficient_reason is None


def test_single_group_attribute_is_skipped_with_reason(data, model):
    one = _with_sensitive(data, country=np.full(len(data.test), "NL"))
    with pytest.raises(SuiteSkipped, match="single group"):
        run_suite(model, one, attributes=("country",), **FAST)
    out = run_suite(model, one, attributes=("sex", "country"), **FAST)
    assert any("country has a single group" in n for n in out.notes)
    assert not any("country" in m.name for m in out.measurements)


def test_missing_column_names_it_and_lists_available(data, model):
    with pytest.raises(AuditInputError, match=r"'religion'.*available: sex, race"):
        run_suite(model, data, attributes=("religion",), **FAST)


def test_nan_in_sensitive_column_errors_unless_missing_group_asked(data, model):
    sex = data.test.sensitive["sex"].astype(object).copy()
    sex.iloc[:40] = np.nan
    holed = _with_sensitive(data, sex=sex)
    with pytest.raises(AuditInputError, match="40 missing value"):
        run_suite(model, holed, **FAST)
    out = run_suite(model, holed, missing_as_group=True, **FAST)
    assert ("sex", "missing") in {r[:2] for r in table(out, "groups").rows}


def test_labels_or_outputs_outside_known_classes_are_input_errors(data, model):
    bad_y = dataclasses.replace(data.test, y=torch.where(data.test.y == 1, 2, 0))
    with pytest.raises(AuditInputError, match="outside the 2 known classes"):
        run_suite(model, dataclasses.replace(data, test=bad_y), **FAST)
    three = wrap_module(torch.nn.Linear(data.test.x.shape[1], 3), data)
    with pytest.raises(AuditInputError, match="3 outputs per row"):
        run_suite(three, data, **FAST)


def test_invalid_param_is_an_input_error():
    with pytest.raises(AuditInputError, match=r"fairness\.resamples = 0 .*at least 1"):
        apply_overrides("fairness", FairnessSuite().params_for("full"), {"resamples": 0})


def test_discriminating_model_fails_the_default_policy(data):
    out = run_suite(sex_only(data), data, resamples=50, proxies=False, mitigation=False)
    checks = _checks(out)
    assert by_name(out)["disparate_impact_ratio[sex]"].value == 0.0
    assert checks["fairness.disparate_impact_ratio[sex]"].verdict is Verdict.FAIL
    assert checks["fairness.flip_rate[sex]"].verdict is Verdict.WARN
    assert by_name(out)["flip_rate[sex]"].value == 1.0


def test_report_content_for_a_reviewer(data, model):
    out = run_suite(model, data, resamples=50, mitigation=False)
    chart_ids = {c.id for c in out.charts}
    assert {"selection_rate[sex]", "tpr_fpr[sex]", "selection_rate[race]", "intersection[sex×race]"} <= chart_ids
    bars = next(c for c in out.charts if c.id == "selection_rate[sex]")
    assert {s.label for s in bars.series} == {"Female", "Male"}
    assert all(s.lo[0] <= s.y[0] <= s.hi[0] for s in bars.series)
    heat = next(c for c in out.charts if c.id == "intersection[sex×race]").heatmap
    assert heat.row_labels == ("Female", "Male") and heat.col_labels == ("A", "B", "C")
    rows = {r[:2]: r for r in table(out, "groups").rows}
    assert heat.values[0][1] == rows[("sex×race", "Female×B")][4]
    assert {"groups", "flip_test", "proxies"} <= {t.id for t in out.tables}
    assert table(out, "proxies").columns == ("attribute", "feature", "importance")
    assert any("29 CFR 1607.4(D)" in n for n in out.notes)
    assert "29 CFR 1607.4(D)" in by_name(out)["disparate_impact_ratio[sex]"].description


def test_quick_preset_is_cheap_and_full_previews_mitigation(data, model):
    suite = FairnessSuite()
    quick, full = suite.params_for("quick"), suite.params_for("full")
    assert quick.resamples < full.resamples and not quick.mitigation and full.mitigation
    assert isinstance(full, FairnessParams)


def test_attributes_given_as_a_list_from_config_work(data, model):
    out = run_suite(model, data, attributes=["race"], **FAST)
    assert {m.name for m in out.measurements} >= {"dp_difference[race]"}
    assert not any("sex" in m.name for m in out.measurements)


def test_multiclass_task_reports_accuracy_and_class_rates():
    data = synthetic_tabular(n=900, seed=6)
    y = torch.tensor(np.random.default_rng(0).integers(0, 3, len(data.test)))
    multi = dataclasses.replace(data, task="multiclass", class_names=("a", "b", "c"),
                                test=dataclasses.replace(data.test, y=y))
    model = wrap_module(torch.nn.Linear(data.test.x.shape[1], 3), multi)
    out = run_suite(model, multi, **FAST)
    names = {m.name for m in out.measurements}
    assert {"dp_difference[sex]", "accuracy_gap[sex]", "worst_group_accuracy[race]"} <= names
    assert "selection_rate[c]" in table(out, "groups").columns
    assert pd.notna(by_name(out)["dp_difference[sex]"].value)


@pytest.mark.slow
def test_german_zoo_model_full_preset_gets_verdicts_from_default_policy():
    from audit.models.zoo import load_zoo_model

    model, data = load_zoo_model("german-mlp")
    suite = FairnessSuite()
    params = dataclasses.replace(suite.params_for("full"), resamples=200)
    out = run_suite(model, data, **dataclasses.asdict(params))
    m = by_name(out)
    for name in ("dp_difference[sex]", "disparate_impact_ratio[age_group]", "equalized_odds_difference[sex]"):
        assert m[name].ci is not None and m[name].ci[0] <= m[name].ci[1]
    assert "flip_rate[sex]" in m and "proxy_auroc[sex]" in m
    checks = _checks(out)
    assert checks["fairness.disparate_impact_ratio[sex]"].verdict in {Verdict.PASS, Verdict.FAIL}
    assert all(v.passed for v in out.validity)
