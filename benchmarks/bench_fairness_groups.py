"""Speed target of the fairness suite on a sensitive column with 10,000 distinct values
(run: pytest benchmarks/bench_fairness_groups.py --benchmark-only).

Target on a 2-core CPU: the whole suite at the full preset (1,000 resamples, flip test, proxies, mitigation
preview) on 20,000 audited rows whose sensitive columns are sex, race and an ID-like column with 10,000
values (two rows each), under 30 s. Before: it did not finish in 300 s (one bootstrap column per group and a
proxy classifier with one class per value). Now the ID column and its intersections come out as
insufficient evidence with their counts, and the proxy check pools its rare values.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from audit.suite import SuiteContext
from audit.suites.fairness import FairnessSuite
from audit.testing import synthetic_tabular, tabular_model

ROWS, GROUPS = 20_000, 10_000


@pytest.fixture(scope="module")
def many_groups():
    data = synthetic_tabular(n=50_000, seed=0)  # 40% test split: 20,000 audited rows
    model = tabular_model(data, seed=0, epochs=3)
    test = data.test.subset(torch.arange(ROWS)) if len(data.test) > ROWS else data.test
    sensitive = test.sensitive.copy()
    sensitive["customer"] = [f"c{i % GROUPS:05d}" for i in range(len(test))]
    test = dataclasses.replace(test, sensitive=sensitive)
    return model, dataclasses.replace(data, test=test, sensitive_attributes=tuple(sensitive.columns))


def test_fairness_suite_10000_groups_on_20000_rows(benchmark, many_groups):
    model, data = many_groups
    assert len(data.test) == ROWS and data.test.sensitive["customer"].nunique() == GROUPS
    suite = FairnessSuite()
    ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=Path("/tmp"))
    out = benchmark.pedantic(lambda: suite.run(ctx, suite.params_for("full")), rounds=2, iterations=1)
    by_name = {m.name: m for m in out.measurements}
    assert "10,000 groups" in by_name["dp_difference[customer]"].insufficient_reason
    assert by_name["dp_difference[sex]"].insufficient_reason is None
    benchmark.extra_info["rows"] = ROWS
    benchmark.extra_info["groups"] = GROUPS
    benchmark.extra_info["target_s"] = 30.0
