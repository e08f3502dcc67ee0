"""The fairness suite with far too many or far too small groups: insufficient evidence with counts, no crash,
no proxy class per value, and the other attributes' results exactly as without the crowded column."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fairness_helpers import by_name, run_suite

from audit.suites.fairness.pooling import OTHER, pool_rare_values
from audit.testing import synthetic_tabular, tabular_model
from audit.types import to_json_dict

SMALL = dict(resamples=40)


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=1500, seed=3)  # 600 test rows


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data, seed=3, epochs=5)


def _with_column(data, name, values):
    sensitive = data.test.sensitive.copy()
    sensitive[name] = values
    return dataclasses.replace(data, test=dataclasses.replace(data.test, sensitive=sensitive),
                               sensitive_attributes=tuple(sensitive.columns))


def test_600_one_row_groups_are_insufficient_evidence_with_counts(data, model):
    n = len(data.test)
    assert n == 600
    out = run_suite(model, _with_column(data, "customer", [f"id-{i}" for i in range(n)]), **SMALL)
    m = by_name(out)
    reason = m["dp_difference[customer]"].insufficient_reason
    assert "600 groups, more than max_groups = 50" in reason and "600 of them have fewer than 30 rows" in reason
    assert "largest has 1 rows" in reason and m["dp_difference[customer]"].details["groups_below_min_size"] == 600
    assert m["intersectional_dp_difference[sex×customer]"].insufficient_reason
    assert "proxy_auroc[customer]" not in m  # no classifier with one class per customer
    assert any("Proxy check not run for customer" in note for note in out.notes)
    assert any("Mitigation preview not run for customer" in note for note in out.notes)
    assert not any(r[0] == "customer" for r in next(t for t in out.tables if t.id == "groups").rows)


def test_other_attributes_are_unchanged_by_a_crowded_column(data, model):
    plain = run_suite(model, data, **SMALL)
    crowded = run_suite(model, _with_column(data, "customer", [f"id-{i}" for i in range(len(data.test))]), **SMALL)
    names = {m.name for m in plain.measurements}
    assert names <= {m.name for m in crowded.measurements}
    same = [m for m in crowded.measurements if m.name in names]
    assert to_json_dict(same) == to_json_dict(list(plain.measurements))


def test_small_groups_under_max_groups_keep_the_usual_evidence_rules(data, model):
    values = np.where(np.arange(len(data.test)) < 40, [f"tiny-{i}" for i in range(len(data.test))], "big")
    out = run_suite(model, _with_column(data, "site", values), attributes=("site",), **SMALL)
    m = by_name(out)["dp_difference[site]"]
    assert "too little data in 40 site group(s)" in m.insufficient_reason and "tiny-0: n=1" in m.insufficient_reason
    assert np.isfinite(m.value)  # compared (41 groups <= max_groups), just not gateable
    assert any("40 value(s) with fewer than 30 rows" in note for note in out.notes)  # proxy classes pooled


def test_pooling_keeps_common_values_and_caps_the_classes():
    labels = np.array(["a"] * 50 + ["b"] * 40 + ["c"] * 35 + ["d"] * 3 + ["e"] * 1)
    pooled = pool_rare_values(labels, min_rows=30, max_classes=3)
    assert (pooled.classes, pooled.pooled_values, pooled.pooled_rows) == (3, 3, 39)
    assert set(pooled.labels) == {"a", "b", OTHER}
    untouched = pool_rare_values(labels[:125], min_rows=30, max_classes=3)
    assert untouched.pooled_values == 0 and (untouched.labels == labels[:125]).all()
    assert pool_rare_values(np.array(["x", "y", "z"]), 2, 5).classes == 1  # everything pooled: nothing to compare
