"""Regression margins, waivers and evidence requirements: parsing and judging."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from audit.errors import AuditInputError
from audit.policy.regression import Margin, build_regression_policy, judge_difference
from audit.policy.requirements import EvidenceRule, evidence_checks, evidence_rule
from audit.policy.waivers import apply_waivers, parse_waivers
from audit.reports import load_scorecard
from audit.testing import synthetic_tabular, tabular_model
from audit.types import Check, SuiteResult, SuiteStatus, Verdict
from tests.compare.helpers import audit_run

DROP = Margin("accuracy.accuracy", max_drop=0.01)
RISE = Margin("fairness.dp_difference[*]", max_rise=0.02)


@pytest.mark.parametrize("margin, diff, ci, verdict", [
    (DROP, -0.03, (-0.04, -0.02), Verdict.FAIL),  # whole CI beyond the allowed drop
    (DROP, -0.01, (-0.02, 0.00), Verdict.INSUFFICIENT_EVIDENCE),  # straddles it
    (DROP, 0.00, (-0.005, 0.005), Verdict.PASS),  # inside
    (RISE, 0.05, (0.03, 0.07), Verdict.FAIL),
    (RISE, 0.02, (0.00, 0.04), Verdict.INSUFFICIENT_EVIDENCE),
    (RISE, -0.10, (-0.2, 0.01), Verdict.PASS),
    (RISE, 0.01, None, Verdict.INSUFFICIENT_EVIDENCE),
])
def test_margin_judged_on_the_ci_of_the_change(margin: Margin, diff: float, ci: tuple | None,
                                               verdict: Verdict) -> None:
    assert judge_difference(margin, diff, ci).verdict is verdict


def test_warn_severity_margin_warns() -> None:
    assert judge_difference(Margin("a.b", max_drop=0.0, severity="warn"), -1, (-2, -0.5)).verdict is Verdict.WARN


def test_most_specific_margin_wins_and_off_disables() -> None:
    policy = build_regression_policy({"fairness.dp_difference[sex]": {"max_rise": 0.05},
                                      "accuracy.accuracy": {"off": True}})
    assert policy.match("fairness.dp_difference[sex]").max_rise == 0.05
    assert policy.match("fairness.dp_difference[race]").max_rise == 0.02  # shipped default
    assert policy.match("accuracy.accuracy") is None
    assert policy.match("fairness.intersectional_dp_difference[sex×race]") is None  # `*` only, no prefix match


@pytest.mark.parametrize("table, message", [
    ({"a.b": {"max_drop": -1}}, "max_drop"),
    ({"a.b": {"min": 1}}, "unknown key"),
    ({"a.b": {}}, "needs max_drop or max_rise"),
    ({"a.b": 0.1}, "must be a table"),
])
def test_bad_margins_are_input_errors(table: dict, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        build_regression_policy(table)


def _failing(key: str = "fairness.dp_difference[sex]") -> Check:
    return Check(key, Verdict.FAIL, "0.2 is above the maximum 0.1")


def test_waiver_applies_until_its_expiry_day_then_is_reported_expired() -> None:
    waivers = parse_waivers([{"check": "fairness.dp_difference[*]", "reason": "pilot", "owner": "ana",
                              "expires": "2030-06-30"}])
    on_day = apply_waivers([_failing()], waivers, dt.date(2030, 6, 30))[0]
    assert on_day.verdict is Verdict.WAIVED and "ana" in on_day.reason and "pilot" in on_day.reason
    after = apply_waivers([_failing()], waivers, dt.date(2030, 7, 1))[0]
    assert after.verdict is Verdict.FAIL and "expired on 2030-06-30" in after.reason
    passing = Check("fairness.dp_difference[sex]", Verdict.PASS, "ok")
    assert apply_waivers([passing], waivers, dt.date(2030, 1, 1))[0] == passing  # a pass is never "waived"


@pytest.mark.parametrize("entry, message", [
    ({"check": "a", "reason": "r", "owner": "o", "expires": "next week"}, "YYYY-MM-DD"),
    ({"check": "a", "reason": "r", "expires": "2030-01-01"}, "missing"),
    ({"check": "a", "reason": "", "owner": "o", "expires": "2030-01-01"}, "reason"),
    ({"check": "a", "reason": "r", "owner": "o", "expires": "2030-01-01", "until": 1}, "unknown"),
])
def test_bad_waivers_are_input_errors(entry: dict, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        parse_waivers([entry])


def _result(suite: str, pillar: str, status: SuiteStatus, reason: str = "") -> SuiteResult:
    return SuiteResult(suite, pillar, status, reason)


def test_named_suite_without_evidence_is_incomplete_and_names_the_input() -> None:
    rule = evidence_rule("fairness", None, ())
    checks = evidence_checks([_result("fairness", "fairness", SuiteStatus.SKIPPED, "needs sensitive attributes")],
                             rule)
    assert [c.verdict for c in checks] == [Verdict.INCOMPLETE]
    assert "--sensitive" in checks[0].reason and "allow_skipped" in checks[0].reason


def test_preset_requires_its_pillars_and_allow_skipped_is_recorded() -> None:
    results = [_result("accuracy", "accuracy", SuiteStatus.OK), _result("privacy", "privacy", SuiteStatus.SKIPPED,
                                                                        "needs training rows")]
    checks = {c.key: c for c in evidence_checks(results, evidence_rule("full", None, ("privacy",)))}
    allowed = checks["evidence.privacy"]
    assert allowed.verdict is Verdict.SKIPPED and "allow_skipped" in allowed.reason
    assert checks["evidence.fairness"].verdict is Verdict.INCOMPLETE  # no fairness suite ran at all
    assert "evidence.accuracy" not in checks
    errored = [_result("accuracy", "accuracy", SuiteStatus.ERROR, "boom")]
    assert evidence_checks(errored, EvidenceRule(pillars=("accuracy",)))[0].verdict is Verdict.INCOMPLETE


def test_waivers_apply_to_the_run_checks_too(tmp_path: Path) -> None:
    data = synthetic_tabular(300, seed=2)
    model = tabular_model(data, epochs=5)
    strict = {"accuracy.accuracy": {"min": 0.999}}
    waiver = {"check": "accuracy.accuracy", "reason": "known", "owner": "ml-team", "expires": "2999-01-01"}
    failed = audit_run(tmp_path / "strict", data, model, suites="accuracy", policy=strict)
    waived = audit_run(tmp_path / "waived", data, model, suites="accuracy", policy=strict, waivers=(waiver,))
    card_failed, card_waived = (load_scorecard(p / "scorecard.json") for p in (failed, waived))
    assert card_failed.exit_code == 1
    check = next(c for c in card_waived.checks if c.key == "accuracy.accuracy")
    assert check.verdict is Verdict.WAIVED and "ml-team" in check.reason
    assert card_waived.exit_code == 0 and card_waived.verdict is Verdict.WAIVED
