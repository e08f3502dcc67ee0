"""Runner: suite isolation, skips with reasons, scorecard rewritten after every suite, determinism."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from audit import provenance, runner
from audit.config import AuditConfig
from audit.errors import SuiteSkipped
from audit.policy import Policy
from audit.suite import SuiteContext, SuiteOutput
from audit.testing import synthetic_tabular, tabular_model
from audit.types import Measurement, SuiteStatus, Threshold, Verdict


@dataclass(frozen=True)
class NoParams:
    level: int = 1


class _Fake:
    pillar: ClassVar[str] = "accuracy"
    requires: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = "test suite"
    Params = NoParams

    def params_for(self, preset: str) -> NoParams:
        return NoParams()


class Good(_Fake):
    name = "good"

    def run(self, ctx: SuiteContext, params: NoParams) -> SuiteOutput:
        import numpy as np

        noise = float(np.random.random())  # seeded by the runner
        return SuiteOutput(measurements=(Measurement("score", 0.9, (0.8, 0.95)), Measurement("noise", noise)))


class Crash(_Fake):
    name = "crash"

    def run(self, ctx: SuiteContext, params: NoParams) -> SuiteOutput:
        raise RuntimeError("division by zero in layer 3")


class Skips(_Fake):
    name = "skips"
    pillar = "privacy"

    def run(self, ctx: SuiteContext, params: NoParams) -> SuiteOutput:
        raise SuiteSkipped("no members known")


class NeedsTrain(_Fake):
    name = "needs"
    pillar = "privacy"
    requires = frozenset({"training-data"})

    def run(self, ctx: SuiteContext, params: NoParams) -> SuiteOutput:  # pragma: no cover - must be skipped
        raise AssertionError("should have been skipped")


def make_audit(tmp_path: Path, suites: list, policy: Policy | None = None, no_train: bool = False,
               cfg: AuditConfig | None = None) -> runner.Audit:
    data = synthetic_tabular(300, seed=2)
    model = tabular_model(data, epochs=5)
    if no_train:
        data = dataclasses.replace(data, train=None)
    cfg = cfg or AuditConfig(model="synthetic", require=())  # the fakes stand in for no real preset
    planned = tuple(runner.PlannedSuite(s.name, s(), NoParams()) for s in suites)
    return runner.Audit(
        config=cfg, plan=runner.RunPlan("full", planned, policy or Policy(())), model=model, data=data,
        provenance=provenance.collect(model, data, cfg.sha256()), out_dir=tmp_path, cache_dir=tmp_path / "cache",
    )


def test_error_is_isolated_and_others_still_run(tmp_path: Path) -> None:
    card = runner.run(make_audit(tmp_path, [Good, Crash, Skips], Policy((Threshold("good.score", min=0.5),)),
                                 cfg=AuditConfig(model="synthetic", require=("accuracy", "privacy"))))
    status = {r.suite: r.status for r in card.results}
    assert status == {"good": SuiteStatus.OK, "crash": SuiteStatus.ERROR, "skips": SuiteStatus.SKIPPED}
    crash = next(r for r in card.results if r.suite == "crash")
    assert "division by zero in layer 3" in crash.reason
    # Privacy evidence is required; "skips" gave none, so the run is incomplete (exit 1), not a crash.
    assert card.exit_code == 1 and card.complete
    incomplete = {c.key: c for c in card.checks if c.verdict is Verdict.INCOMPLETE}
    assert "no members known" in incomplete["evidence.privacy"].reason
    assert "--train-data" in incomplete["evidence.privacy"].reason and "evidence.accuracy" not in incomplete
    on_disk = json.loads((tmp_path / "scorecard.json").read_text())
    assert on_disk["complete"] is True and len(on_disk["results"]) == 3


def test_suite_crash_without_missing_evidence_exits_3(tmp_path: Path) -> None:
    cfg = AuditConfig(model="synthetic", require=("accuracy", "privacy"), allow_skipped=("privacy",))
    card = runner.run(make_audit(tmp_path, [Good, Crash, Skips], Policy((Threshold("good.score", min=0.5),)), cfg=cfg))
    assert card.exit_code == 3
    allowed = next(c for c in card.checks if c.key == "evidence.privacy")
    assert allowed.verdict is Verdict.SKIPPED and "allow_skipped" in allowed.reason


def test_missing_capability_is_skipped_with_reason(tmp_path: Path) -> None:
    card = runner.run(make_audit(tmp_path, [NeedsTrain], no_train=True))
    result = card.results[0]
    assert result.status is SuiteStatus.SKIPPED and "--train-data" in result.reason
    assert {p.pillar: p.verdict for p in card.pillars}["privacy"] is Verdict.SKIPPED


def test_gate_failure_exit_code(tmp_path: Path) -> None:
    card = runner.run(make_audit(tmp_path, [Good], Policy((Threshold("good.score", min=0.99),))))
    assert card.exit_code == 1 and card.verdict is Verdict.FAIL


def _strip_volatile(card: dict) -> dict:
    card["run"].pop("started_at"), card["run"].pop("finished_at")
    for r in card["results"]:
        r.pop("duration_s")
    return card


def test_same_seed_same_scorecard(tmp_path: Path) -> None:
    a = runner.run(make_audit(tmp_path / "a", [Good]))
    b = runner.run(make_audit(tmp_path / "b", [Good]))
    ja = _strip_volatile(json.loads((tmp_path / "a" / "scorecard.json").read_text()))
    jb = _strip_volatile(json.loads((tmp_path / "b" / "scorecard.json").read_text()))
    assert ja == jb
    assert a.results[0].measurements[1].value == b.results[0].measurements[1].value


KILLED_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from test_runner import Good, make_audit, _Fake
    from audit import runner

    class Killer(_Fake):
        name = "killer"
        def run(self, ctx, params):
            os._exit(9)  # like SIGKILL or an OOM kill: no cleanup runs

    runner.run(make_audit(Path({out!r}), [Good, Killer]))
    """
)


def test_killed_run_keeps_finished_suites(tmp_path: Path) -> None:
    script = KILLED_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    card = json.loads((tmp_path / "scorecard.json").read_text())
    assert card["complete"] is False
    assert [r["suite"] for r in card["results"]] == ["good"]
    assert card["results"][0]["measurements"][0]["value"] == pytest.approx(0.9)


class FullOnly(_Fake):
    name = "fullonly"
    pillar = "remedies"
    presets: ClassVar[tuple[str, ...]] = ("full",)
    presets_reason: ClassVar[str] = "it trains new models"

    def run(self, ctx: SuiteContext, params: NoParams) -> SuiteOutput:  # pragma: no cover - must not run in quick
        raise AssertionError("the quick preset must leave this suite out")


def test_a_suite_its_preset_leaves_out_is_shown_skipped_not_dropped(tmp_path: Path) -> None:
    from audit import registry

    assert registry.in_preset(FullOnly(), "full") and registry.in_preset(FullOnly(), "fullonly")
    assert not registry.in_preset(FullOnly(), "quick") and registry.in_preset(Good(), "quick")
    reason = registry.preset_only_reason(FullOnly())
    audit = make_audit(tmp_path, [Good])
    planned = (*audit.plan.suites, runner.PlannedSuite("fullonly", FullOnly(), NoParams(), not_in_preset=reason))
    card = runner.run(dataclasses.replace(audit, plan=dataclasses.replace(audit.plan, suites=planned)))
    left_out = next(r for r in card.results if r.suite == "fullonly")
    assert left_out.status is SuiteStatus.SKIPPED
    assert left_out.reason.startswith("fullonly: full preset only (it trains new models)")


def test_quick_preset_leaves_out_remedies_but_runs_every_required_pillar() -> None:
    from audit.policy.requirements import PRESET_REQUIREMENTS

    quick = {p.name: p for p in runner.plan(AuditConfig(suite="quick")).suites}
    assert quick["remedies"].not_in_preset.startswith("remedies: full preset only")
    runs = {p.suite.pillar for p in quick.values() if p.suite is not None and not p.not_in_preset}
    assert set(PRESET_REQUIREMENTS["quick"]) <= runs
    assert not any(p.not_in_preset for p in runner.plan(AuditConfig(suite="full")).suites)
    assert not runner.plan(AuditConfig(suite="remedies")).suites[0].not_in_preset


HEAVY = ("shap", "art", "fairlearn", "opacus", "cleanlab", "transformers", "sentence_transformers", "peft", "onnx",
         "onnxruntime", "ray", "weasyprint", "sklearn", "matplotlib", "torch._inductor")


def test_accuracy_run_imports_no_heavy_library(tmp_path: Path) -> None:
    """`audit run --suite accuracy` plans and runs without importing another suite's heavy libraries."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from audit import registry
        registry.names()
        from audit import provenance, runner
        from audit.config import AuditConfig
        from audit.testing import TabularMLP, synthetic_tabular, wrap_module
        cfg = AuditConfig(model="synthetic", suite="accuracy")
        plan = runner.plan(cfg)
        assert [p.name for p in plan.suites] == ["accuracy"]
        data = synthetic_tabular(200, seed=1)
        model = wrap_module(TabularMLP(data.test.x.shape[1], 2, (8,)), data)  # untrained: the imports are the test
        audit = runner.Audit(config=cfg, plan=plan, model=model, data=data,
                             provenance=provenance.collect(model, data, cfg.sha256()), out_dir=Path({str(tmp_path)!r}),
                             cache_dir=Path({str(tmp_path)!r}))
        runner.run(audit)
        heavy = {HEAVY!r}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("input_kind,first,then", [("image", "explainability", "remedies"),
                                                   ("tabular", "remedies", "explainability")])
def test_suites_side_by_side_start_in_the_order_of_their_cost_on_this_kind_of_input(input_kind, first, then) -> None:
    """On the zoo CNN remedies trains on 1,000 images and is among the shorter suites, while explainability's patch
    permutations are long; on tables remedies is the longest. A worker that frees up takes the longer one."""
    from audit.executors import SuiteWork
    from audit.executors.forked import _priorities

    plan = runner.plan(AuditConfig(model="mnist-cnn" if input_kind == "image" else "adult-mlp", suite="full"))
    work = SuiteWork(None, None, dict, runner._plan_reads(plan), None, started=lambda p: None,
                     relative_cost=lambda p: runner.relative_cost(p, input_kind))
    priority = _priorities(work, plan.suites)
    assert priority[first] > priority[then]
    assert priority["robustness"] == max(priority.values())  # the longest chain on either kind starts first
