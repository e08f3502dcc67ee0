"""No pass without evidence: which pillars and suites a run must produce figures for.

A suite named in `--suite`, or a pillar in `[tool.audit] require` (default: `PRESET_REQUIREMENTS` for the
presets), that ends skipped or errored makes the run incomplete: an `incomplete` check that blocks the gate
and names the input that would give the evidence. `allow_skipped` opts a pillar or suite out explicitly; the
opt-out is kept as a `skipped` check so every report shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audit.errors import AuditInputError
from audit.pillars import PILLAR_NAMES
from audit.types import Check, SuiteResult, SuiteStatus, Verdict

PRESETS = ("full", "quick")
# What a release gate needs from either preset (quick is the PR-CI preset: cheaper, not less evidence);
# explainability and efficiency inform but are not required.
RELEASE_PILLARS = ("accuracy", "fairness", "robustness", "privacy")
PRESET_REQUIREMENTS = {"full": RELEASE_PILLARS, "quick": RELEASE_PILLARS}
# The input that gives each pillar its evidence, for the message.
ENABLING_INPUT = {
    "accuracy": "a model and labelled audit data (--model, --data, --label)",
    "fairness": "sensitive attribute columns: --sensitive COL[,COL]",
    "robustness": "a tabular or image model (text models: the text-robustness suite)",
    "privacy": "the model's training rows: --train-data PATH",
    "explainability": "a model with gradients or a tabular model",
    "efficiency": "a torch model",
    "data": "labelled audit data; leakage, label errors, shift and generalisation also need --train-data PATH",
}
EVIDENCE_PREFIX = "evidence"


@dataclass(frozen=True)
class EvidenceRule:
    """What must have evidence: suites named on the command line and required pillars, minus opt-outs."""

    suites: tuple[str, ...] = ()
    pillars: tuple[str, ...] = ()
    allow_skipped: tuple[str, ...] = ()


def evidence_rule(selection: str, require: Sequence[str] | None, allow_skipped: Sequence[str]) -> EvidenceRule:
    preset = selection if selection in PRESETS else None
    suites = () if preset else tuple(s.strip() for s in selection.split(",") if s.strip())
    pillars = tuple(require) if require is not None else PRESET_REQUIREMENTS.get(preset or "", ())
    return EvidenceRule(suites, pillars, tuple(allow_skipped))


def validate_names(require: Sequence[str] | None, allow_skipped: Sequence[str], suite_names: Sequence[str]) -> None:
    for key, names, known in (("require", require or (), PILLAR_NAMES),
                              ("allow_skipped", allow_skipped, (*PILLAR_NAMES, *suite_names))):
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise AuditInputError(f"{key} must be a list of names, e.g. {key} = [\"privacy\"]")
        unknown = [n for n in names if n not in known]
        if unknown:
            from audit.config import did_you_mean

            hint = did_you_mean(unknown[0], list(known))
            raise AuditInputError(f"[tool.audit] {key} names unknown {unknown[0]!r}{hint}")


def evidence_checks(results: Sequence[SuiteResult], rule: EvidenceRule) -> list[Check]:
    """One check per required suite or pillar: incomplete without evidence, skipped when explicitly allowed."""
    by_suite = {r.suite: r for r in results}
    checks = [_suite_check(name, by_suite.get(name), rule) for name in rule.suites]
    covered = {by_suite[n].pillar for n in rule.suites if n in by_suite}
    checks += [_pillar_check(p, [r for r in results if r.pillar == p], rule) for p in rule.pillars if p not in covered]
    return [c for c in checks if c is not None]


def _suite_check(name: str, result: SuiteResult | None, rule: EvidenceRule) -> Check | None:
    if result is None or result.status is SuiteStatus.OK:
        return None
    allowed = name in rule.allow_skipped or result.pillar in rule.allow_skipped
    return _check(name, result.pillar, [result], allowed, f"the suite {name!r} named in --suite")


def _pillar_check(pillar: str, results: list[SuiteResult], rule: EvidenceRule) -> Check | None:
    if any(r.status is SuiteStatus.OK for r in results):
        return None
    return _check(pillar, pillar, results, pillar in rule.allow_skipped, f"the required pillar {pillar!r}")


def _check(name: str, pillar: str, results: list[SuiteResult], allowed: bool, what: str) -> Check:
    key = f"{EVIDENCE_PREFIX}.{name}"
    happened = "; ".join(f"{r.suite} {r.status.value}: {r.reason}" for r in results) or "no suite of it was run"
    if allowed:
        return Check(key, Verdict.SKIPPED, f"no evidence ({happened}); allowed by allow_skipped in the configuration",
                     description=f"Evidence for {what}: explicitly allowed to be missing.")
    hint = ENABLING_INPUT.get(pillar, "the input named above")
    return Check(key, Verdict.INCOMPLETE,
                 f"no evidence for {what} ({happened}). To get it, provide {hint}; or accept the gap with "
                 f"allow_skipped = [\"{name}\"] in [tool.audit]",
                 description=f"Evidence for {what}: the run is incomplete without it, so it cannot pass.")
