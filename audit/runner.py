"""Resolve suites, run each isolated, judge, and rewrite scorecard.json after every suite."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from audit import gating, registry
from audit.checkpoints import PartCheckpoints
from audit.config import AuditConfig
from audit.data.types import Dataset
from audit.energy import RunEnergy
from audit.errors import AuditInputError, SuiteSkipped
from audit.evidence import RowEvidence, write_evidence
from audit.executors import Executor, LocalExecutor, SuiteWork
from audit.executors.tasks import IN_PROCESS, TaskRunner
from audit.home import audit_home
from audit.models.types import ModelUnderAudit
from audit.policy import Policy
from audit.policy.requirements import EvidenceRule, evidence_rule
from audit.policy.waivers import parse_waivers
from audit.suite import Suite, SuiteContext, SuiteOutput, context_capabilities
from audit.types import SCHEMA_VERSION, Provenance, RunInfo, Scorecard, SuiteResult, SuiteStatus, to_json_dict

_NEEDS = {
    "gradients": "a differentiable torch model (white-box); ONNX, scikit-learn and prediction files have no gradients",
    "logits": "a model that outputs logits",
    "queries": "a model that answers for new inputs (--model FILE); a prediction file answers only for its own rows",
    "predict_proba": "class probabilities (a model with predict_proba, or --proba-columns for a prediction file)",
    "score": "scores that rank the rows (--score-column or --proba-columns for a prediction file)",
    "torch": "a PyTorch model (.pt2, safetensors, state dict or a zoo model) to build variants from",
    "recipe": "a training recipe to retrain the model (zoo models have one)",
    "training-data": "the model's training rows (pass --train-data PATH)",
    "sensitive-attributes": "sensitive attributes; this data set has none (for your own data: --sensitive COL[,COL])",
    "input:text": "a text model (e.g. --model adult-text-minilm); this model's input is not text",
    "input:image": "an image model (e.g. --model mnist-cnn); this model's input is not images",
    "input:tabular": "a tabular model; this model's input is not tabular",
    "task:binary": "a binary classifier",
    "task:multiclass": "a multiclass classifier",
}


class ProgressSink(Protocol):
    def suite_started(self, name: str, index: int, total: int) -> None: ...
    def suite_progress(self, completed: float, total: float, description: str) -> None: ...
    def suite_finished(self, result: SuiteResult) -> None: ...


class NullProgress:
    def suite_started(self, name: str, index: int, total: int) -> None: ...
    def suite_progress(self, completed: float, total: float, description: str = "") -> None: ...
    def suite_finished(self, result: SuiteResult) -> None: ...


@dataclass(frozen=True)
class PlannedSuite:
    name: str
    suite: Suite | None
    params: Any
    load_error: str = ""
    not_in_preset: str = ""  # why the selected preset leaves this suite out (shown as its skip reason)


@dataclass(frozen=True)
class RunPlan:
    preset: str
    suites: tuple[PlannedSuite, ...]
    policy: Policy


def plan(config: AuditConfig) -> RunPlan:
    """Everything that can be validated before the model loads: suite names, params, policy."""
    preset, entries = registry.resolve(config.suite)
    unknown = sorted(set(config.suites) - set(registry.names()))
    if unknown:
        raise AuditInputError(f"[tool.audit.suites] names unknown suite {unknown[0]!r}"
                              f"{registry.did_you_mean(unknown[0], registry.names())}")
    return RunPlan(preset, tuple(_plan_one(e, preset, config) for e in entries), config.build_policy())


def _plan_one(entry: registry.SuiteEntry, preset: str, config: AuditConfig) -> PlannedSuite:
    try:
        suite = entry.load()
    except Exception as exc:  # a broken plug-in must not stop the others
        return PlannedSuite(entry.name, None, None, f"could not load suite: {type(exc).__name__}: {exc}")
    params = registry.apply_overrides(entry.name, suite.params_for(preset), config.suites.get(entry.name, {}))
    left_out = "" if registry.in_preset(suite, config.suite) else registry.preset_only_reason(suite)
    return PlannedSuite(entry.name, suite, params, not_in_preset=left_out)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Audit:
    """One audit run's fixed inputs."""

    config: AuditConfig
    plan: RunPlan
    model: ModelUnderAudit
    data: Dataset
    provenance: Provenance
    out_dir: Path
    cache_dir: Path
    tasks: TaskRunner = IN_PROCESS  # where suites fan out their own tasks: the executor's (set by `run`)
    placement: str = ""  # how the suites ran (executor.describe; set by `run`), recorded in the scorecard


def run(audit: Audit, progress: ProgressSink | None = None, executor: Executor | None = None,
        kept: Mapping[str, SuiteResult] | None = None) -> Scorecard:
    """Run every planned suite; scorecard.json is rewritten after each so a crash loses nothing.

    `kept`: results of a killed run that `--resume` carries over (not recomputed). The executor decides where
    suites run (here, or on Ray); results are ordered by the plan whatever order they finish in."""
    from audit.reports import write_json  # renderers stay out of the import path of suites

    progress = progress or NullProgress()
    executor = executor or LocalExecutor()
    done: dict[str, SuiteResult] = dict(kept or {})
    pending = [p for p in audit.plan.suites if p.name not in done]
    starts = itertools.count(len(done))
    work = SuiteWork(compute_suite, audit, lambda: done, _plan_reads(audit.plan), progress,
                     started=lambda p: progress.suite_started(p.name, next(starts), len(audit.plan.suites)),
                     runs_alone=lambda p: bool(getattr(p.suite, "runs_alone", False)), crashed=_crashed,
                     reads_at_end=lambda p: bool(getattr(p.suite, "reads_at_end", False)),
                     relative_cost=lambda p: relative_cost(p, audit.data.input_kind))
    shared = shares_with_workers(audit.model)
    audit = dataclasses.replace(audit, tasks=executor.tasks, placement=executor.describe(work, pending, shared))
    work = dataclasses.replace(work, shared=audit)
    started = _now()
    energy = RunEnergy.start(audit.model.device)
    input_error = False
    # written before the first suite too, so a run killed in it can be resumed (with its finished parts)
    write_json(_scorecard(audit, _in_plan_order(audit.plan, done), started, None, input_error, energy.so_far()),
               audit.out_dir / "scorecard.json")
    for planned, computed in executor.run_suites(work, pending, shared):
        if computed.evidence is not None:  # per-row evidence for paired comparisons, beside scorecard.json
            write_evidence(audit.out_dir, planned.name, computed.evidence, audit.provenance.data_sha256)
        input_error |= computed.bad_input
        done[planned.name] = computed.result
        progress.suite_finished(computed.result)
        write_json(_scorecard(audit, _in_plan_order(audit.plan, done), started, None, input_error,
                              energy.so_far()), audit.out_dir / "scorecard.json")
    final = _scorecard(audit, _in_plan_order(audit.plan, done), started, _now(), input_error, energy.so_far())
    write_json(final, audit.out_dir / "scorecard.json")
    return final


def shares_with_workers(model: ModelUnderAudit) -> bool:
    """Whether forked workers may run suites on this model: a torch module on the CPU. CUDA does not survive fork,
    and an ONNX or scikit-learn backend may hold a native thread pool that a forked child cannot use."""
    return model.device == "cpu" and model.backend is None and model.module is not None


def _crashed(planned: PlannedSuite, why: str) -> ComputedSuite:
    result = SuiteResult(planned.name, getattr(planned.suite, "pillar", planned.name), SuiteStatus.ERROR,
                         reason=f"{why}; the other suites' results are kept. Rerun with --resume on this run's "
                                "folder (add --jobs 1 to run one suite at a time)", params=params_json_of(planned))
    return ComputedSuite(result, None, False)


def _in_plan_order(plan: RunPlan, done: Mapping[str, SuiteResult]) -> list[SuiteResult]:
    return [done[p.name] for p in plan.suites if p.name in done]


def relative_cost(planned: PlannedSuite, input_kind: str) -> float:
    """The suite's rough share of a run (a scheduling hint, never a figure): its `relative_cost`, a number or a
    mapping from input kind ("image", "tabular", "text") to number with "*" for any other kind; 1 when unset."""
    cost = getattr(planned.suite, "relative_cost", 1.0)
    return float(cost.get(input_kind, cost["*"]) if isinstance(cost, Mapping) else cost)


def _plan_reads(plan: RunPlan) -> dict[str, frozenset[str]]:
    """Suite -> the planned suites whose outputs it declares it reads (they must finish first)."""
    names = {p.name for p in plan.suites}
    return {p.name: frozenset(o.suite for o in getattr(p.suite, "reads", ()) if o.suite in names and o.suite != p.name)
            for p in plan.suites}


@dataclass(frozen=True)
class ComputedSuite:
    """One suite's result and its per-row evidence, as an executor hands it back to the runner."""

    result: SuiteResult
    evidence: RowEvidence | None
    bad_input: bool


def compute_suite(audit: Audit, previous: Mapping[str, SuiteResult], planned: PlannedSuite,
                  progress: ProgressSink | None = None) -> ComputedSuite:
    """Run one suite isolated (seeded, timed); writes nothing, so it can run on any executor's worker."""
    suite = planned.suite
    pillar_name = getattr(suite, "pillar", planned.name)
    if suite is None:
        return ComputedSuite(SuiteResult(planned.name, pillar_name, SuiteStatus.ERROR, reason=planned.load_error),
                             None, False)
    params_json = params_json_of(planned)
    if planned.not_in_preset:
        return ComputedSuite(SuiteResult(planned.name, pillar_name, SuiteStatus.SKIPPED, reason=planned.not_in_preset,
                                         params=params_json), None, False)
    missing = sorted(set(suite.requires) - context_capabilities(audit.model, audit.data))
    if missing:
        reason = "needs " + "; ".join(_NEEDS.get(m, m) for m in missing)
        return ComputedSuite(SuiteResult(planned.name, pillar_name, SuiteStatus.SKIPPED, reason=reason,
                                         params=params_json), None, False)
    ctx = SuiteContext(
        model=audit.model, data=audit.data, seed=audit.config.seed, preset=audit.plan.preset,
        cache_dir=audit.cache_dir, previous=previous,
        progress=(progress or NullProgress()).suite_progress, reads=frozenset(getattr(suite, "reads", ())),
        checkpoints=PartCheckpoints.for_suite(audit.out_dir, planned.name, params_json, audit.provenance,
                                             audit.config.seed),
        tasks=audit.tasks,
    )
    seed_everything(audit.config.seed)
    start = time.perf_counter()
    status, reason, output, bad_input = _guarded(suite, ctx, planned.params)
    return ComputedSuite(SuiteResult(
        suite=planned.name, pillar=pillar_name, status=status, reason=reason,
        measurements=output.measurements, tables=output.tables, charts=output.charts,
        validity=output.validity, notes=output.notes, params=params_json,
        duration_s=round(time.perf_counter() - start, 3), device=device_name(audit.model.device),
    ), output.evidence, bad_input)


def params_json_of(planned: PlannedSuite) -> dict[str, Any]:
    """A planned suite's parameters as the scorecard records them ({} for a suite that failed to load)."""
    return to_json_dict(dataclasses.asdict(planned.params)) if planned.params is not None else {}


def device_name(device: str) -> str:
    """What the suite ran on: the GPU's name when it used one (torch.cuda), else the device string."""
    from audit.provenance import device_name as hardware_name

    return f"{device} ({hardware_name(device)})" if device.startswith("cuda") else device


def _guarded(suite: Suite, ctx: SuiteContext, params: Any) -> tuple[SuiteStatus, str, SuiteOutput, bool]:
    """Run a suite; an exception becomes an error result so the other suites still run."""
    try:
        return SuiteStatus.OK, "", suite.run(ctx, params), False
    except SuiteSkipped as exc:
        return SuiteStatus.SKIPPED, str(exc), SuiteOutput(), False
    except AuditInputError as exc:
        return SuiteStatus.ERROR, f"bad input: {exc}", SuiteOutput(), True
    except Exception as exc:
        return SuiteStatus.ERROR, f"{type(exc).__name__}: {exc}", SuiteOutput(), False


def _scorecard(audit: Audit, results: Sequence[SuiteResult], started: str, finished: str | None,
               input_error: bool, energy: Mapping[str, Any] | None = None) -> Scorecard:
    checks = gating.run_checks(results, audit.plan.policy, _evidence_rule(audit.config),
                               parse_waivers(audit.config.waivers))
    info = RunInfo(
        model=audit.model.name, dataset=audit.data.name, preset=audit.plan.preset,
        suites=tuple(p.name for p in audit.plan.suites), seed=audit.config.seed, device=audit.model.device,
        started_at=started, finished_at=finished, energy=dict(energy or {}), placement=audit.placement,
    )
    return Scorecard(
        schema_version=SCHEMA_VERSION, run=info, provenance=audit.provenance, config=audit.config.to_dict(),
        results=tuple(results), checks=tuple(checks), pillars=gating.pillar_summaries(results, checks),
        verdict=gating.overall_verdict(checks), exit_code=gating.exit_code(checks, input_error),
        complete=finished is not None,
    )


def _evidence_rule(config: AuditConfig) -> EvidenceRule:
    return evidence_rule(config.suite, config.require, config.allow_skipped)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def default_out_dir(model_name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model_name).name)
    return Path("reports") / f"{safe}-{stamp}"




__all__ = ["Audit", "RunPlan", "plan", "run", "seed_everything", "default_out_dir", "audit_home"]
