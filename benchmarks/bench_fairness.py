"""Speed target of the fairness suite (run: pytest benchmarks/bench_fairness.py --benchmark-only).

Target on a 2-core CPU: the whole suite (full preset: group metrics, flip test, proxies, mitigation
preview) on the Adult test split (16,281 rows), sex and race plus their intersection, 200 bootstrap
resamples, under 20 s. For comparison, the bootstrap alone against fairlearn's sequential MetricFrame
bootstrap (n_boot=200) on the same predictions; both CIs go to `extra_info`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from audit.models.zoo import load_zoo_model
from audit.stats import exact_float, resample_counts
from audit.suite import SuiteContext
from audit.suites.fairness import FairnessSuite
from audit.suites.fairness.audit_groups import estimate_axes
from audit.suites.fairness.disparity import dp_difference, indicator_matrix
from audit.suites.fairness.groups import attribute_columns, build_axes

RESAMPLES = 200


@pytest.fixture(scope="module")
def adult():
    model, data = load_zoo_model("adult-mlp")  # trains and caches under $AUDIT_HOME on first use
    return model, data


def test_fairness_suite_adult_sex_race_200_resamples(benchmark, adult):
    model, data = adult
    suite = FairnessSuite()
    params = dataclasses.replace(suite.params_for("full"), attributes=("sex", "race"), resamples=RESAMPLES)
    ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=Path("/tmp"))
    out = benchmark.pedantic(lambda: suite.run(ctx, params), rounds=3, iterations=1, warmup_rounds=1)
    dp = next(m for m in out.measurements if m.name == "dp_difference[sex]")
    benchmark.extra_info.update({"rows": len(data.test), "resamples": RESAMPLES, "measurements": len(out.measurements),
                                 "dp_difference[sex]": dp.value, "ci": list(dp.ci)})


def _predictions(model, data):
    return data.test.y.numpy(), model.predict(data.test.x)


def test_vectorised_bootstrap_only(benchmark, adult):
    model, data = adult
    y, pred = _predictions(model, data)
    axes, _ = build_axes(attribute_columns(data.test.sensitive, ("sex", "race"), False), True)

    def run():
        weights = resample_counts(len(y), RESAMPLES, 0, exact_float(len(y)))
        return estimate_axes(axes, indicator_matrix(y, pred, 1, 2), weights)

    estimates = benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["dp_difference[sex]_ci"] = list(np.quantile(dp_difference(estimates[0].boot_rates),
                                                                     [0.025, 0.975]))


def test_fairlearn_sequential_bootstrap_for_comparison(benchmark, adult):
    from fairlearn.metrics import MetricFrame, selection_rate

    model, data = adult
    y, pred = _predictions(model, data)

    def run():
        sensitive = data.test.sensitive[["sex", "race"]]
        frames = [MetricFrame(metrics=selection_rate, y_true=y, y_pred=pred, sensitive_features=features,
                              n_boot=RESAMPLES, ci_quantiles=[0.025, 0.975], random_state=0)
                  for features in (sensitive["sex"], sensitive["race"], sensitive)]
        return frames[0].difference_ci()

    ci = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["dp_difference[sex]_ci"] = [float(ci[0]), float(ci[1])]
