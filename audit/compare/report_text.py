"""comparison.json, comparison.md (a pull-request comment) and junit.xml for a release comparison.

Renderers only format a `Comparison`. Every string from data, models or config is escaped (Markdown: md_escape;
XML: ElementTree plus removal of characters XML forbids).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from audit.compare.types import ComparedMeasurement, Comparison
from audit.reports.formatting import VERDICT_LABEL, fmt_ci, fmt_number
from audit.reports.md_text import md_escape, md_table
from audit.types import Check, Verdict, to_json_dict

MAX_MARKDOWN_CHARS = 60_000
_BLOCKING_JUNIT = {Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.UNRELIABLE, Verdict.INCOMPLETE}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MARK = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.WARN: "⚠️", Verdict.INSUFFICIENT_EVIDENCE: "❔",
         Verdict.WAIVED: "🏷️"}


def render_comparison_json(comparison: Comparison) -> str:
    return json.dumps(to_json_dict(comparison), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_change(row: ComparedMeasurement) -> str:
    if row.difference is None:
        return "–"
    return f"{row.difference:+.4g} {fmt_ci(row.ci)}"


def headline(comparison: Comparison) -> str:
    blocking = [c for c in comparison.checks if _blocks(c)]
    if blocking:
        return f"{len(blocking)} regression gate(s) block the release."
    waived = sum(c.verdict is Verdict.WAIVED for c in comparison.checks)
    unsettled = sum(c.verdict in (Verdict.WARN, Verdict.INSUFFICIENT_EVIDENCE) for c in comparison.checks)
    extra = [f"{waived} regression(s) waived"] if waived else []
    extra += [f"{unsettled} warning-severity check(s) warn or could not be settled"] if unsettled else []
    return "No blocking regression gate fails" + (f"; {', '.join(extra)}." if extra else ".")


_GATE_ORDER = (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.WARN, Verdict.WAIVED, Verdict.PASS)


def gates_by_severity(checks: Sequence[Check]) -> list[Check]:
    """Regression gates, the ones that block or need a look first."""
    return sorted(checks, key=lambda k: _GATE_ORDER.index(k.verdict) if k.verdict in _GATE_ORDER else 0)


def _blocks(check: Check) -> bool:
    from audit.gating import is_blocking

    return is_blocking(check)


def pairing_sentence(comparison: Comparison) -> str:
    if comparison.paired:
        return (f"Paired on the same rows (data sha256 {comparison.candidate.data_sha256[:12]}…), "
                f"{comparison.resamples} paired bootstrap resamples, seed {comparison.seed}; p-values adjusted "
                "across all compared measurements (Benjamini–Hochberg).")
    return "Unpaired comparison: the runs' rows could not be paired, so every test is unpaired (wider intervals)."


# ---- Markdown -----------------------------------------------------------------------------------------------


def render_comparison_markdown(comparison: Comparison) -> str:
    for limit in (None, 100, 40, 15, 5):
        text = "\n".join(_markdown(comparison, limit)) + "\n"
        if len(text) < MAX_MARKDOWN_CHARS:
            return text
    return text[: MAX_MARKDOWN_CHARS - 80] + "\n\n_Truncated to fit a comment; see comparison.html._\n"


def _markdown(c: Comparison, limit: int | None) -> list[str]:
    mark = _MARK.get(c.verdict, "❔")
    lines = [f"# Release comparison: {md_escape(c.candidate.model)} against {md_escape(c.baseline.model)}", "",
             f"> {mark} **{VERDICT_LABEL[c.verdict]}** — {headline(c)} Exit code **{c.exit_code}**.", ">",
             f"> {md_escape(pairing_sentence(c))}", ""]
    lines += _gate_lines(c, limit)
    worse = [r for r in c.measurements if r.significant and r.direction == "worse"]
    better = [r for r in c.measurements if r.significant and r.direction == "better"]
    changed = [r for r in c.measurements if r.significant and r.direction == "changed"]
    lines += _change_section("Significantly worse", worse, limit)
    lines += _change_section("Significantly better", better, limit)
    if changed:
        lines += _change_section("Significantly changed (no preferred direction)", changed, limit)
    lines += _waiver_lines(c)
    lines += ["<details><summary>All compared measurements</summary>", ""]
    lines += md_table(_HEADER, [_row_cells(r) for r in c.measurements], limit) + ["", "</details>", ""]
    lines += [f"- {md_escape(note, line_start=True)}" for note in c.notes]
    return lines


_HEADER = ("measurement", "baseline", "candidate", "change [95% CI]", "p", "p (BH)", "test")


def _row_cells(r: ComparedMeasurement) -> list[str]:
    return [md_escape(r.key), md_escape(fmt_number(r.baseline.value)), md_escape(fmt_number(r.candidate.value)),
            md_escape(fmt_change(r)), fmt_p(r.p_value), fmt_p(r.p_adjusted), md_escape(r.method)]


def _gate_lines(c: Comparison, limit: int | None) -> list[str]:
    checks = gates_by_severity(c.checks)
    not_passing = [k for k in checks if k.verdict is not Verdict.PASS]
    lines = [f"## Regression gates: {len(checks) - len(not_passing)} of {len(checks)} pass", ""]
    if not_passing:
        rows = [[f"{_MARK.get(k.verdict, '❔')} {VERDICT_LABEL[k.verdict]}", md_escape(k.key),
                 md_escape(f"{fmt_number(k.value)} {fmt_ci(k.ci)}"), md_escape(k.reason)] for k in not_passing]
        lines += md_table(("verdict", "check", "change [95% CI]", "reason"), rows, limit) + [""]
    return lines


def _change_section(title: str, rows: Sequence[ComparedMeasurement], limit: int | None) -> list[str]:
    lines = [f"## {title} ({len(rows)})", ""]
    if not rows:
        return lines + ["_None._", ""]
    return lines + md_table(_HEADER, [_row_cells(r) for r in rows], limit) + [""]


def _waiver_lines(c: Comparison) -> list[str]:
    if not c.waivers:
        return []
    rows = [[md_escape(w["check"]), md_escape(w["state"]), md_escape(w["owner"]), md_escape(w["expires"]),
             md_escape(w["reason"])] for w in c.waivers]
    return ["## Waivers", ""] + md_table(("check", "state", "owner", "expires", "reason"), rows) + [""]


# ---- JUnit ----------------------------------------------------------------------------------------------------


def _clean(text: object) -> str:
    return _XML_INVALID.sub("", str(text))


def render_comparison_junit(comparison: Comparison) -> str:
    """One testcase per regression gate: blocking verdicts are failures; warnings and waivers are logged."""
    root = ET.Element("testsuites", name="audit compare")
    suite = ET.SubElement(root, "testsuite", name="regression")
    failures = 0
    for check in comparison.checks:
        case = ET.SubElement(suite, "testcase", classname=_clean(check.key.split(".")[1]), name=_clean(check.key))
        message = _clean(f"{VERDICT_LABEL[check.verdict]}: {check.key}: {check.reason}")
        if _blocks(check):
            failures += 1
            ET.SubElement(case, "failure", message=message, type=check.verdict.value).text = message
        elif check.verdict is not Verdict.PASS:
            ET.SubElement(case, "system-out").text = message
    for element in (root, suite):
        element.set("tests", str(len(comparison.checks)))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("skipped", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
