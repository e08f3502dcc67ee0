"""Judging: measurements + policy -> checks, pillar verdicts and the exit code. Suites never judge."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from audit.pillars import PILLARS, nist_citation
from audit.policy import Policy
from audit.policy.requirements import EvidenceRule, evidence_checks
from audit.policy.waivers import Waiver, apply_waivers
from audit.types import Check, Measurement, PillarSummary, SuiteResult, SuiteStatus, Threshold, Verdict

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

# Worst first: the order in which a pillar's or the run's verdict is chosen.
_SEVERITY = (
    Verdict.ERROR, Verdict.INCOMPLETE, Verdict.UNRELIABLE, Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE,
    Verdict.WARN, Verdict.WAIVED, Verdict.PASS, Verdict.SKIPPED,
)
_BLOCKING = {Verdict.FAIL, Verdict.UNRELIABLE, Verdict.INSUFFICIENT_EVIDENCE, Verdict.INCOMPLETE}


def judge(key: str, m: Measurement, t: Threshold) -> Check:
    """One measurement against one threshold."""
    base = dict(key=key, value=m.value, ci=m.ci, threshold=t, description=m.description)
    if m.insufficient_reason:
        return Check(verdict=Verdict.INSUFFICIENT_EVIDENCE, reason=m.insufficient_reason, **base)
    if m.value is None or math.isnan(m.value):
        return Check(verdict=Verdict.INSUFFICIENT_EVIDENCE, reason="the figure could not be computed", **base)
    violations = _violations(m, t)
    if not violations:
        return Check(verdict=Verdict.PASS, reason=_bounds_text(t) + " holds" + _basis(m, t), **base)
    verdict = Verdict.FAIL if t.severity == "fail" else Verdict.WARN
    return Check(verdict=verdict, reason="; ".join(violations) + _basis(m, t), **base)


def _judged_low_high(m: Measurement, t: Threshold) -> tuple[float, float]:
    if t.on == "ci" and m.ci is not None and all(math.isfinite(b) for b in m.ci):
        return m.ci
    return (m.value, m.value)


def _violations(m: Measurement, t: Threshold) -> list[str]:
    low, high = _judged_low_high(m, t)
    out = []
    if t.min is not None and low < t.min:
        out.append(f"{_fmt(low)} is below the minimum {_fmt(t.min)}")
    if t.max is not None and high > t.max:
        out.append(f"{_fmt(high)} is above the maximum {_fmt(t.max)}")
    return out


def _basis(m: Measurement, t: Threshold) -> str:
    if t.on != "ci":
        return " (judged on the point estimate)"
    if m.ci is None:
        return " (no CI available; judged on the point estimate)"
    return " (judged on the conservative end of the 95% CI)"


def _bounds_text(t: Threshold) -> str:
    parts = []
    if t.min is not None:
        parts.append(f">= {_fmt(t.min)}")
    if t.max is not None:
        parts.append(f"<= {_fmt(t.max)}")
    return " and ".join(parts)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def checks_for(result: SuiteResult, policy: Policy) -> list[Check]:
    """Checks for one suite: its errors, failed self-checks and thresholded measurements."""
    if result.status is SuiteStatus.ERROR:
        return [Check(key=result.suite, verdict=Verdict.ERROR, reason=result.reason)]
    if result.status is SuiteStatus.SKIPPED:
        return [Check(key=result.suite, verdict=Verdict.SKIPPED, reason=result.reason)]
    checks = [
        Check(
            key=f"{result.suite}.validity.{v.name}",
            verdict=Verdict.PASS if v.passed else Verdict.UNRELIABLE,
            reason=v.detail,
            description="A self-check of the evaluation; if it fails, the pillar's figures cannot be trusted.",
        )
        for v in result.validity
    ]
    for m in result.measurements:
        key = f"{result.suite}.{m.name}"
        threshold = policy.match(key)
        if threshold is not None:
            checks.append(judge(key, m, threshold))
    return checks


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    present = set(verdicts)
    return next((v for v in _SEVERITY if v in present), None)


def is_blocking(check: Check) -> bool:
    """Does this check stop the gate? Warn-severity thresholds never do."""
    if check.threshold is not None and check.threshold.severity == "warn":
        return False
    return check.verdict in _BLOCKING


def exit_code(checks: Sequence[Check], input_error: bool = False) -> int:
    if any(is_blocking(c) for c in checks):
        return EXIT_GATE_FAILED
    if input_error:
        return EXIT_USAGE
    if any(c.verdict is Verdict.ERROR for c in checks):
        return EXIT_INTERNAL
    return EXIT_OK


def overall_verdict(checks: Sequence[Check]) -> Verdict:
    judged = [c.verdict for c in checks if c.verdict is not Verdict.SKIPPED]
    return worst(judged) or Verdict.PASS


def pillar_summaries(results: Sequence[SuiteResult], checks: Sequence[Check]) -> tuple[PillarSummary, ...]:
    return tuple(_pillar_summary(p.name, p.eu_ai_act, nist_citation(p, results), results, checks) for p in PILLARS)


def _pillar_summary(
    name: str, eu: str, nist: str, results: Sequence[SuiteResult], checks: Sequence[Check]
) -> PillarSummary:
    suites = [r for r in results if r.pillar == name]
    if not suites:
        return PillarSummary(name, None, "not run in this audit (no suite of this pillar was selected)", eu, nist)
    own = [c for c in checks if c.key.split(".", 1)[0] in {r.suite for r in suites}]
    if all(r.status is SuiteStatus.SKIPPED for r in suites):
        reasons = "; ".join(f"{r.suite}: {r.reason}" for r in suites)
        return PillarSummary(name, Verdict.SKIPPED, f"skipped — {reasons}", eu, nist)
    verdict = worst(c.verdict for c in own if c.verdict is not Verdict.SKIPPED) or Verdict.PASS
    return PillarSummary(name, verdict, _count_text(own, suites), eu, nist)


def _count_text(checks: Sequence[Check], suites: Sequence[SuiteResult]) -> str:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c.verdict.value] = counts.get(c.verdict.value, 0) + 1
    gated = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no gated checks"
    measured = sum(len(r.measurements) for r in suites)
    return f"{measured} figures measured; checks: {gated}"


def run_checks(results: Sequence[SuiteResult], policy: Policy, rule: EvidenceRule | None = None,
               waivers: Sequence[Waiver] = ()) -> list[Check]:
    """Every check of a run: each suite's, then evidence requirements (no pass without evidence), then waivers."""
    checks = [c for r in results for c in checks_for(r, policy)]
    if rule is not None:
        checks += evidence_checks(results, rule)
    return apply_waivers(checks, waivers) if waivers else checks


def combined_exit_code(*codes: int) -> int:
    """One exit code for several gates (a run and its comparison): a failed gate first, then the most severe."""
    return EXIT_GATE_FAILED if EXIT_GATE_FAILED in codes else max(codes, default=EXIT_OK)
