"""junit.xml parses and its counts follow the verdict mapping (fail/unreliable/insufficient -> failure...)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from audit.reports import render
from audit.types import Check, Verdict


def _expected_counts(checks: list[Check]) -> dict[str, int]:
    verdicts = [c.verdict for c in checks]
    return {
        "tests": len(verdicts),
        "failures": sum(v in (Verdict.FAIL, Verdict.UNRELIABLE, Verdict.INSUFFICIENT_EVIDENCE) for v in verdicts),
        "errors": verdicts.count(Verdict.ERROR),
        "skipped": verdicts.count(Verdict.SKIPPED),
    }


def _counts(root: ET.Element) -> dict[str, int]:
    return {k: int(root.get(k)) for k in ("tests", "failures", "errors", "skipped")}


def test_counts_match_verdicts(scorecard) -> None:
    root = ET.fromstring(render(scorecard, "junit"))
    assert _counts(root) == _expected_counts(list(scorecard.checks))
    assert _counts(root) == {"tests": 8, "failures": 3, "errors": 1, "skipped": 1}
    assert len(root.findall(".//testcase")) == 8 and len(root.findall(".//testcase/failure")) == 3
    per_suite = {s.get("name"): int(s.get("tests")) for s in root.findall("testsuite")}
    assert per_suite == {"accuracy": 2, "robustness": 2, "fairness": 2, "privacy": 1, "explainability": 1}


def test_suite_status_testcase_added_when_gating_recorded_none(scorecard) -> None:
    """Skipped and errored suites still show up when the scorecard carries no check for them."""
    kept = tuple(c for c in scorecard.checks if c.key not in ("privacy", "explainability"))
    root = ET.fromstring(render(dataclasses.replace(scorecard, checks=kept), "junit"))
    assert _counts(root) == {"tests": 8, "failures": 3, "errors": 1, "skipped": 1}
    assert root.find(".//testcase[@name='privacy (suite)']/skipped") is not None
    assert root.find(".//testcase[@name='explainability (suite)']/error") is not None


def test_testcase_names_and_warn_note(scorecard) -> None:
    root = ET.fromstring(render(scorecard, "junit"))
    case = root.find(".//testcase[@name='accuracy.ece']")
    assert case is not None and case.get("classname") == "accuracy"
    assert case.find("failure") is None and "WARN" in case.findtext("system-out")
    failure = root.find(".//testcase[@name='fairness.dp_difference[sex]']/failure")
    assert failure is not None and failure.get("type") == "fail" and "0.14" in failure.get("message")
    error = root.find(".//testcase[@name='explainability']/error")
    assert error is not None and "shape mismatch" in error.get("message")


def test_xml_invalid_characters_are_dropped(scorecard) -> None:
    bad = Check("accuracy.odd\x00key", Verdict.FAIL, "bell\x07 and nul\x00", 1.0)
    root = ET.fromstring(render(dataclasses.replace(scorecard, checks=(bad,)), "junit"))
    assert root.find(".//testcase").get("name") == "accuracy.oddkey"
    assert int(root.get("failures")) == 1


def test_check_for_a_suite_without_result_gets_its_own_testsuite(scorecard) -> None:
    extra = Check("custom.metric", Verdict.PASS, "ok", 0.5)
    root = ET.fromstring(render(dataclasses.replace(scorecard, checks=scorecard.checks + (extra,)), "junit"))
    assert root.find("testsuite[@name='custom']/testcase[@name='custom.metric']") is not None
