"""--executor ray on a local Ray instance gives the same scorecard.json as the local executor (apart from times)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.session import execute

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    """One Ray instance for the module (start-up is the slow part); loopback only, no dashboard."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield ray
    ray.shutdown()


def _comparable(path: Path) -> dict:
    card = json.loads(path.read_text())
    for key in ("started_at", "finished_at", "energy", "placement"):  # times, and how the run was placed
        card["run"].pop(key)
    card["provenance"].pop("git_commit")  # the working folder's commit: others commit while the test runs
    for key in ("out", "executor"):
        card["config"].pop(key)
    for result in card["results"]:
        result.pop("duration_s")
    return card


# 8 shadow models, 4 per task: two shadow tasks fanned out inside the privacy suite (nested Ray tasks on Ray)
SMALL_PRIVACY = {"shadow_models": 8, "shadows_per_task": 4, "max_per_side": 300, "bootstrap_resamples": 100,
                 "attribute_rows": 200, "shift_rows": 300, "label_only_queries": 4}
# 150 audit rows in shards of at most 40: the ε sweep's looks fan out as Ray tasks inside the robustness suite
SMALL_ROBUSTNESS = {"n_rows": 150, "row_looks": [75], "shard_rows": 40, "pgd_steps": 5, "apgd_steps": 5,
                    "run_l2": False, "n_blackbox": 30, "blackbox_queries": 40, "n_deepfool": 20, "deepfool_steps": 10}


def test_ray_scorecard_equals_local(local_ray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = dict(model="german-mlp", suite="accuracy,fairness,privacy,robustness",
                    suites={"privacy": SMALL_PRIVACY, "robustness": SMALL_ROBUSTNESS})
    execute(AuditConfig(**settings, out=str(tmp_path / "local")))  # type: ignore[arg-type]
    on_ray = execute(AuditConfig(**settings, out=str(tmp_path / "ray"), executor="ray"))  # type: ignore[arg-type]
    assert [r.status.value for r in on_ray.scorecard.results] == ["ok", "ok", "ok", "ok"]
    lira = next(m for r in on_ray.scorecard.results for m in r.measurements if m.name == "membership_auc[lira_online]")
    assert lira.details["shadow_models"] == 8
    pgd = next(m for r in on_ray.scorecard.results for m in r.measurements if m.name.startswith("robust_accuracy[pgd"))
    assert pgd.details["shard_rows"] == 40
    assert _comparable(tmp_path / "ray" / "scorecard.json") == _comparable(tmp_path / "local" / "scorecard.json")
    assert sorted(p.name for p in (tmp_path / "ray" / "evidence").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "evidence").iterdir())
    assert all(r.device == "cpu" for r in on_ray.scorecard.results)
    assert ray.is_initialized()  # the executor joined the running instance and left it running


def test_shadow_tasks_on_ray_equal_the_same_tasks_in_process(local_ray) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    import numpy as np

    from audit.executors.tasks import IN_PROCESS, RayTasks, item_seeds
    from audit.suites.privacy.shadow import ShadowPool, paired_assignment, train_shadow_task
    from audit.testing import synthetic_tabular, tabular_model

    data = synthetic_tabular(200, seed=3)
    recipe = dataclasses.replace(tabular_model(data, epochs=1).recipe, batch_size=32)
    pool = ShadowPool(recipe, data.train.x, data.train.y, epochs=2)
    keep = paired_assignment(8, len(data.train.y), np.random.default_rng(0))
    groups, seeds = [keep[:4], keep[4:]], item_seeds(0, 7919, 2)
    on_ray = dict(RayTasks().run(train_shadow_task, pool, groups, seeds, 0.0))
    here = dict(IN_PROCESS.run(train_shadow_task, pool, groups, seeds, 0.0))
    for index in (0, 1):
        np.testing.assert_array_equal(on_ray[index]["phi"], here[index]["phi"])
        np.testing.assert_array_equal(on_ray[index]["correct"], here[index]["correct"])


def test_attack_shards_on_ray_equal_the_same_shards_in_process(local_ray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from audit.executors.tasks import IN_PROCESS, RayTasks, item_seeds
    from audit.suite import SuiteContext
    from audit.suites.robustness import RobustnessParams
    from audit.suites.robustness.eps_sweep import LookWork, Shard, attack_shard
    from audit.suites.robustness.suite import _setup
    from audit.testing import synthetic_tabular, tabular_model

    data = synthetic_tabular(300, seed=2)
    params = RobustnessParams(n_rows=120, pgd_steps=5, apgd_steps=5)
    ctx = SuiteContext(tabular_model(data, epochs=5), data, seed=0, preset="full", cache_dir=tmp_path)
    setup, _ = _setup(ctx, params)
    work = LookWork(setup, "linf", (0.25, 0.5, 1.0))
    shards = [Shard(setup.order[i : i + 40], np.zeros(40, dtype=bool)) for i in (0, 40)]
    seeds = item_seeds(0, 4300, 2)
    on_ray = dict(RayTasks().run(attack_shard, work, shards, seeds, 0.0))
    here = dict(IN_PROCESS.run(attack_shard, work, shards, seeds, 0.0))
    assert on_ray == here
    assert on_ray[0]["rows"] == setup.order[:40].tolist()


def test_remedies_trained_as_ray_tasks_equal_remedies_trained_in_process(local_ray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each remedy trains in a Ray task of its own (`remedies.jobs.train_remedy`); the re-audited figures equal an
    in-process run's (separate cache folders, so neither run reuses the other's remedies)."""
    import dataclasses

    pytest.importorskip("opacus")
    from audit.executors.tasks import IN_PROCESS, RayTasks
    from audit.suite import SuiteContext
    from audit.suites.remedies import RemediesParams, RemediesSuite
    from audit.testing import synthetic_tabular, tabular_model
    from audit.types import to_json_dict

    data = synthetic_tabular(n=400, seed=4)
    model = tabular_model(data, seed=4, epochs=20)
    model = dataclasses.replace(model, recipe=dataclasses.replace(model.recipe, batch_size=64, epochs=3))
    params = RemediesParams(remedies=("adversarial_training", "dp_sgd", "distillation", "fairness_constrained"),
                            attack_steps=3, attack_rows=100, membership_rows=100, bootstrap_resamples=100,
                            train_attack_steps=2, dp_batch_size=32)

    def figures(tasks: object, cache: str) -> str:
        ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=tmp_path / cache,
                           tasks=tasks)  # type: ignore[arg-type]
        out = RemediesSuite().run(ctx, params)
        kept = [m for m in out.measurements if not any(t in m.name for t in ("throughput", "training_seconds"))]
        return json.dumps(to_json_dict(dataclasses.replace(out, measurements=tuple(kept), evidence=None,
                                                           tables=(), charts=())), sort_keys=True)

    on_ray, here = figures(RayTasks(), "ray"), figures(IN_PROCESS, "here")
    assert on_ray == here
    assert "dp_sgd.accuracy" in on_ray and "fairness_constrained.accuracy" in on_ray


def test_a_timing_suite_runs_as_a_wave_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import dataclass

    from audit.executors.forked import SuiteWork
    from audit.executors.ray_executor import RayExecutor

    @dataclass(frozen=True)
    class Item:
        name: str

    executor, groups = RayExecutor(), []

    def fake_map(fn, shared, previous, group):  # type: ignore[no-untyped-def]
        groups.append([i.name for i in group])
        return [i.name for i in group]

    monkeypatch.setattr(executor, "_map", fake_map)
    work = SuiteWork(None, None, dict, {"reader": frozenset({"a"})}, None, started=lambda i: None,  # type: ignore[arg-type]
                     runs_alone=lambda i: i.name == "timed")
    items = [Item("a"), Item("timed"), Item("b"), Item("reader")]
    assert [r for _, r in executor.run_suites(work, items, True)] == ["a", "b", "timed", "reader"]
    assert groups == [["a", "b"], ["timed"], ["reader"]]
