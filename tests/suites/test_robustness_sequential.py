"""The sequential ε sweep: looks, valid intervals, work reported, FGSM from one gradient, checkpointed looks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from robustness_helpers import context

from audit.checkpoints import PartCheckpoints
from audit.executors.tasks import seeded_call
from audit.stats import clopper_pearson
from audit.suites.robustness import RobustnessParams, RobustnessSuite, eps_sweep
from audit.suites.robustness.threat import LogitView, build_space
from audit.suites.robustness.torch_pgd import fgsm_config, fgsm_sweep, pgd
from audit.testing import synthetic_tabular, tabular_model
from audit.types import to_json_dict

SEQUENTIAL = RobustnessParams(n_rows=300, row_looks=(60, 120), ci_half_width=0.1, shard_rows=50, pgd_steps=8,
                              apgd_steps=8, run_l2=False, n_blackbox=40, blackbox_queries=60, n_deepfool=20,
                              deepfool_steps=10)


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=600, seed=0)


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data, seed=0)


def _run(model, data, tmp: Path | None):
    ctx = context(model, data)
    if tmp is not None:
        ctx = dataclasses.replace(ctx, checkpoints=PartCheckpoints(tmp, "identity"))
    return RobustnessSuite().run(ctx, SEQUENTIAL)


def _json(out) -> str:
    return json.dumps(to_json_dict(dataclasses.replace(out, evidence=None)), sort_keys=True)


@pytest.fixture(scope="module")
def uninterrupted(model, data):
    return _run(model, data, None)


def test_each_eps_reports_its_rows_look_and_a_valid_interval(uninterrupted):
    worst = {m.name: m for m in uninterrupted.measurements if m.name.startswith("robust_accuracy[linf,")}
    looks = {m.details["look"] for m in worst.values()}
    assert len(looks) > 1, "the synthetic sweep should close some ε early and run others to all rows"
    alphas = {1: 0.01, 2: 0.01, 3: 0.03}
    for m in worst.values():
        look, n = m.details["look"], m.details["rows"]
        assert m.details["looks"] == [60, 120, 240]  # the synthetic test split has 240 rows
        assert n == m.n == (60, 120, 240)[look - 1]
        assert m.details["ci_alpha"] == pytest.approx(alphas[look])
        k = round(m.value * n)
        assert m.ci == pytest.approx(clopper_pearson(k, n, alphas[look]))
        if look < 3:
            assert (m.ci[1] - m.ci[0]) / 2 <= 0.1
    pgd = [m for m in uninterrupted.measurements if m.name.startswith("robust_accuracy[pgd,linf")]
    assert all(m.details["gradient_steps"] > 0 and m.details["steps"] == 8 for m in pgd)
    assert any("Sequential sampling" in note for note in uninterrupted.notes)
    assert all(v.passed for v in uninterrupted.validity), [v for v in uninterrupted.validity if not v.passed]


def test_a_resumed_sweep_reads_finished_shards_back_and_equals_an_uninterrupted_run(model, data, uninterrupted,
                                                                                  tmp_path, monkeypatch):
    first = _run(model, data, tmp_path)
    parts = sorted(p.name for p in tmp_path.iterdir())
    # looks of 60, 60 and 120 new rows in shards of at most 50: 2 + 2 + 3 parts
    assert parts == [f"linf-look{look}-{i}.json" for look, n in ((1, 2), (2, 2), (3, 3)) for i in range(n)]
    (tmp_path / "linf-look3-1.json").unlink()  # killed while the last look's second shard ran
    attacked = []
    real = eps_sweep.attack_look
    monkeypatch.setattr(eps_sweep, "attack_look", lambda *a, **k: attacked.append(a[3].tolist()) or real(*a, **k))
    resumed = _run(model, data, tmp_path)
    look3 = json.loads((tmp_path / "linf-look3-1.json").read_text())["value"]
    assert attacked == [look3["rows"]] and len(look3["rows"]) == 40  # only that shard was attacked again
    assert _json(resumed) == _json(first) == _json(uninterrupted)


class ReversedTasks:
    """Runs a fan-out's items last to first, as Ray may finish them."""

    def run(self, task, shared, items, seeds, gpus):  # type: ignore[no-untyped-def]
        for index in reversed(range(len(items))):
            yield index, seeded_call(task, shared, items[index], seeds[index])


def test_shards_finishing_in_another_order_give_the_same_figures(model, data, uninterrupted):
    ctx = dataclasses.replace(context(model, data), tasks=ReversedTasks())
    assert _json(RobustnessSuite().run(ctx, SEQUENTIAL)) == _json(uninterrupted)


def test_the_shard_size_is_a_setting_of_the_audit(model, data, uninterrupted):
    """Another shard size draws other random starts: still a valid sweep, recorded with each figure."""
    other = RobustnessSuite().run(context(model, data), dataclasses.replace(SEQUENTIAL, shard_rows=1000))
    pgd = [m for m in other.measurements if m.name.startswith("robust_accuracy[pgd,linf")]
    assert {m.details["shard_rows"] for m in pgd} == {1000}
    assert all(v.passed for v in other.validity)


def test_fgsm_from_one_gradient_equals_fgsm_run_per_eps(model, data):
    space = build_space(data, ("sex", "race", "age"))
    view = LogitView(model.module, space.scale, False).eval()
    u, y = space.to_u(data.test.x[:100]), data.test.y[:100]
    swept = fgsm_sweep(view, u, y, space, "linf", (0.1, 0.5), 64)
    for i, eps in enumerate((0.1, 0.5)):
        single = pgd(view, u, y, space, fgsm_config("linf", eps), torch.Generator().manual_seed(0))
        with torch.no_grad():
            clean = view(u).argmax(1) == y
        np.testing.assert_allclose(swept[i][clean], single[clean], atol=1e-6)
