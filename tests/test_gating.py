"""Judging measurements against policy thresholds, pillar verdicts and exit codes."""

from __future__ import annotations

import pytest

from audit import gating
from audit.errors import AuditInputError
from audit.policy import Policy, build_policy, parse_thresholds
from audit.types import Measurement, SuiteResult, SuiteStatus, Threshold, ValidityCheck, Verdict


def m(value: float, ci: tuple[float, float] | None = None, reason: str | None = None) -> Measurement:
    return Measurement("x", value, ci, True, 100, insufficient_reason=reason)


@pytest.mark.parametrize(
    "measurement, threshold, verdict",
    [
        (m(0.9), Threshold("s.x", min=0.8), Verdict.PASS),
        (m(0.7), Threshold("s.x", min=0.8), Verdict.FAIL),
        (m(0.7), Threshold("s.x", min=0.8, severity="warn"), Verdict.WARN),
        (m(0.3), Threshold("s.x", max=0.2), Verdict.FAIL),
        (m(0.9, (0.75, 0.95)), Threshold("s.x", min=0.8, on="ci"), Verdict.FAIL),  # lower CI bound judged
        (m(0.9, (0.75, 0.95)), Threshold("s.x", min=0.8, on="value"), Verdict.PASS),
        (m(0.1, (0.05, 0.25)), Threshold("s.x", max=0.2, on="ci"), Verdict.FAIL),  # upper bound for a max
        (m(0.9, reason="too few rows"), Threshold("s.x", min=0.8), Verdict.INSUFFICIENT_EVIDENCE),
        (m(float("nan")), Threshold("s.x", min=0.8), Verdict.INSUFFICIENT_EVIDENCE),
    ],
)
def test_judge(measurement: Measurement, threshold: Threshold, verdict: Verdict) -> None:
    assert gating.judge("s.x", measurement, threshold).verdict is verdict


def test_policy_matches_most_specific_and_brackets_are_literal() -> None:
    policy = Policy((Threshold("fairness.dp[*]", max=0.1), Threshold("fairness.dp[sex]", max=0.2)))
    assert policy.match("fairness.dp[sex]").max == 0.2
    assert policy.match("fairness.dp[race]").max == 0.1
    assert policy.match("fairness.dps") is None
    assert Policy((Threshold("a.b[x]", max=1),)).match("a.bx") is None


def test_user_policy_overrides_and_disables_defaults() -> None:
    user = parse_thresholds({"accuracy.accuracy": {"min": 0.95}, "accuracy.ece": {"off": True}}, "value", "test")
    policy = build_policy(user.items(), "value")
    assert policy.match("accuracy.accuracy").min == 0.95
    assert policy.match("accuracy.ece") is None


@pytest.mark.parametrize(
    "spec", [{"minimum": 1}, {}, {"min": "high"}, {"min": 1, "on": "mean"}, {"max": 1, "severity": "x"}]
)
def test_bad_policy_entries_are_input_errors(spec: dict) -> None:
    with pytest.raises(AuditInputError):
        parse_thresholds({"accuracy.accuracy": spec}, "value", "test")


def _result(**kw) -> SuiteResult:
    return SuiteResult(suite="s", pillar="robustness", status=kw.pop("status", SuiteStatus.OK), **kw)


def test_failed_validity_check_makes_pillar_unreliable_and_blocks() -> None:
    result = _result(validity=(ValidityCheck("monotone", False, "accuracy rose with eps"),))
    checks = gating.checks_for(result, Policy(()))
    assert checks[0].verdict is Verdict.UNRELIABLE
    pillars = {p.pillar: p for p in gating.pillar_summaries([result], checks)}
    assert pillars["robustness"].verdict is Verdict.UNRELIABLE
    assert pillars["privacy"].verdict is None
    assert gating.exit_code(checks) == gating.EXIT_GATE_FAILED


def test_exit_codes() -> None:
    policy = Policy((Threshold("s.x", min=0.5), Threshold("s.y", min=0.5, severity="warn")))
    ok = _result(measurements=(Measurement("x", 0.9),))
    warn_only = _result(measurements=(Measurement("x", 0.9), Measurement("y", 0.1)))
    failing = _result(measurements=(Measurement("x", 0.1),))
    insufficient = _result(measurements=(Measurement("x", 0.9, insufficient_reason="n=3"),))
    errored = _result(status=SuiteStatus.ERROR, reason="boom")
    code = lambda r, **kw: gating.exit_code(gating.checks_for(r, policy), **kw)  # noqa: E731
    assert code(ok) == 0
    assert code(warn_only) == 0
    assert code(failing) == 1
    assert code(insufficient) == 1  # a gate never passes on insufficient evidence
    assert code(errored) == 3
    assert code(ok, input_error=True) == 2
    assert gating.overall_verdict(gating.checks_for(warn_only, policy)) is Verdict.WARN
