"""junit.xml: one <testsuite> per audit suite, one <testcase> per gated check, for CI dashboards.

fail, unreliable-evaluation and insufficient-evidence -> <failure>; error -> <error>; skipped -> <skipped>;
warn passes with a <system-out> note. A skipped or errored suite is a testcase of its own (gating's check keyed
by the bare suite name, or one added here when the scorecard has none).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from audit.reports.formatting import check_sentence, fmt_ci, fmt_number, fmt_threshold, verdict_label
from audit.reports.xml_text import xml_safe
from audit.types import Check, Scorecard, SuiteResult, SuiteStatus, Verdict

_FAILURES = {Verdict.FAIL, Verdict.UNRELIABLE, Verdict.INSUFFICIENT_EVIDENCE, Verdict.INCOMPLETE}
def _suite_of(check: Check) -> str:
    return check.key.split(".", 1)[0]


def _check_message(check: Check) -> str:
    """`FAIL: key = 0.14 (95% CI [...]; threshold ≤ 0.1 on value (fail)). sentence` — absent parts left out."""
    figures = [f"95% CI {fmt_ci(check.ci)}"] if check.ci else []
    figures += [f"threshold {fmt_threshold(check.threshold)}"] if check.threshold else []
    value = f" = {fmt_number(check.value)}" if check.value is not None else ""
    detail = f" ({'; '.join(figures)})" if figures else ""
    return xml_safe(f"{verdict_label(check.verdict)}: {check.key}{value}{detail}. {check_sentence(check)}")


def _check_case(parent: ET.Element, check: Check, suite: str) -> None:
    case = ET.SubElement(parent, "testcase", classname=xml_safe(suite), name=xml_safe(check.key))
    message = _check_message(check)
    if check.verdict in _FAILURES:
        ET.SubElement(case, "failure", message=message, type=check.verdict.value).text = message
    elif check.verdict is Verdict.ERROR:
        ET.SubElement(case, "error", message=message, type="error").text = message
    elif check.verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=message)
    elif check.verdict in (Verdict.WARN, Verdict.WAIVED):
        ET.SubElement(case, "system-out").text = message


def _status_case(parent: ET.Element, result: SuiteResult) -> None:
    """A skipped or errored suite as its own testcase, so CI shows it even without gated checks."""
    case = ET.SubElement(parent, "testcase", classname=xml_safe(result.suite), name=xml_safe(f"{result.suite} (suite)"))
    reason = xml_safe(result.reason or "no reason given")
    if result.status is SuiteStatus.SKIPPED:
        ET.SubElement(case, "skipped", message=reason)
    else:
        ET.SubElement(case, "error", message=reason, type="suite-error").text = reason


def _count(suite_el: ET.Element, tag: str) -> int:
    return sum(1 for case in suite_el.iter("testcase") if case.find(tag) is not None)


def _set_counts(element: ET.Element, tests: int, failures: int, errors: int, skipped: int, time: float) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", str(errors))
    element.set("skipped", str(skipped))
    element.set("time", f"{time:.3f}")


def _suite_names(scorecard: Scorecard) -> list[str]:
    """Suites in run order, then any suite only named by a check key."""
    names = [r.suite for r in scorecard.results]
    return names + sorted({_suite_of(c) for c in scorecard.checks} - set(names))


def render_junit(scorecard: Scorecard) -> str:
    root = ET.Element("testsuites", name=xml_safe(f"audit {scorecard.run.model} on {scorecard.run.dataset}"))
    results = {r.suite: r for r in scorecard.results}
    totals = [0, 0, 0, 0]
    for name in _suite_names(scorecard):
        result = results.get(name)
        suite_el = ET.SubElement(root, "testsuite", name=xml_safe(name))
        own_checks = [c for c in scorecard.checks if _suite_of(c) == name]
        # Gating already records a skipped/errored suite as a check keyed by the bare suite name.
        if result is not None and result.status is not SuiteStatus.OK and all(c.key != name for c in own_checks):
            _status_case(suite_el, result)
        for check in own_checks:
            _check_case(suite_el, check, name)
        counts = [len(suite_el.findall("testcase"))] + [_count(suite_el, t) for t in ("failure", "error", "skipped")]
        _set_counts(suite_el, *counts, time=result.duration_s if result else 0.0)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    _set_counts(root, *totals, time=sum(r.duration_s for r in scorecard.results))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
