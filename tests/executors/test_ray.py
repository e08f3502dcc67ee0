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
    card["run"].pop("started_at"), card["run"].pop("finished_at"), card["run"].pop("energy")
    card["provenance"].pop("git_commit")  # the working folder's commit: others commit while the test runs
    for key in ("out", "executor"):
        card["config"].pop(key)
    for result in card["results"]:
        result.pop("duration_s")
    return card


def test_ray_scorecard_equals_local(local_ray, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = dict(model="german-mlp", suite="accuracy,fairness")
    execute(AuditConfig(**settings, out=str(tmp_path / "local")))  # type: ignore[arg-type]
    on_ray = execute(AuditConfig(**settings, out=str(tmp_path / "ray"), executor="ray"))  # type: ignore[arg-type]
    assert [r.status.value for r in on_ray.scorecard.results] == ["ok", "ok"]
    assert _comparable(tmp_path / "ray" / "scorecard.json") == _comparable(tmp_path / "local" / "scorecard.json")
    assert sorted(p.name for p in (tmp_path / "ray" / "evidence").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "evidence").iterdir())
    assert all(r.device == "cpu" for r in on_ray.scorecard.results)
    assert ray.is_initialized()  # the executor joined the running instance and left it running
