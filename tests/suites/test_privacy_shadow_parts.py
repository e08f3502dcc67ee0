"""Shadow models are kept as finished parts: a run killed while training them resumes without training the finished
ones again, and ends with the figures of an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.checkpoints import CHECKPOINT_DIR
from audit.config import AuditConfig
from audit.executors.tasks import item_seeds
from audit.session import execute
from audit.suites.privacy import shadow
from tests.test_resume import comparable

# 8 shadows: two shadow tasks of 4; small samples keep the run to seconds
PRIVACY = {"shadow_models": 8, "shadows_per_task": 4, "max_per_side": 300, "bootstrap_resamples": 100,
           "attribute_rows": 200, "shift_rows": 300, "label_only_queries": 4}


def _cfg(out: Path, **extra: object) -> AuditConfig:
    return AuditConfig(model="german-mlp", suite="privacy", suites={"privacy": PRIVACY}, out=str(out),
                       **extra)  # type: ignore[arg-type]


class Interrupted(BaseException):
    """Stands in for a kill: not an Exception, so the suite's isolation does not catch it."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("shadow-parts")
    full = execute(_cfg(base / "full"))
    trained: list[int] = []
    real = shadow.train_shadow_task
    kill = {"after": 1}

    def counting(pool, keep, seed):  # type: ignore[no-untyped-def]
        if len(trained) == kill["after"]:
            raise Interrupted
        trained.append(seed)
        return real(pool, keep, seed)

    mp = pytest.MonkeyPatch()
    mp.setattr(shadow, "train_shadow_task", counting)
    try:
        with pytest.raises(Interrupted):
            execute(_cfg(base / "killed"))
        before_kill, parts = list(trained), sorted(p.name for p in (base / "killed" / CHECKPOINT_DIR).rglob("*.json"))
        trained.clear()
        kill["after"] = -1
        resumed = execute(_cfg(base / "killed", resume=str(base / "killed")))
    finally:
        mp.undo()
    return {"base": base, "full": full, "resumed": resumed, "before_kill": before_kill, "parts": parts,
            "after": list(trained)}


def test_the_killed_run_kept_its_one_finished_shadow_task(runs: dict) -> None:
    seeds = item_seeds(0, shadow.SHADOW_SALT, 2)
    assert runs["before_kill"] == seeds[:1]
    assert len(runs["parts"]) == 1 and runs["parts"][0].startswith("shadows-") and runs["parts"][0].endswith("-0.json")


def test_resume_trains_only_the_unfinished_shadows(runs: dict) -> None:
    assert runs["after"] == item_seeds(0, shadow.SHADOW_SALT, 2)[1:]


def test_resumed_figures_equal_an_uninterrupted_run(runs: dict) -> None:
    base = runs["base"]
    assert comparable(base / "killed" / "scorecard.json") == comparable(base / "full" / "scorecard.json")
    resumed = runs["resumed"].scorecard
    assert resumed.complete and [r.status.value for r in resumed.results] == ["ok"]
    lira = next(m for m in resumed.results[0].measurements if m.name == "membership_auc[lira_online]")
    assert lira.details["shadow_models"] == 8
