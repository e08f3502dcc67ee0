"""scorecard.md: a GitHub-flavoured summary small enough for a pull-request comment.

Every string that comes from data, models or config goes through `md_escape`; the only raw HTML is our own
`<details>`/`<summary>` markup. Charts are listed by title (they are drawn in scorecard.html).
"""

from __future__ import annotations

from audit.reports.formatting import (
    VERDICT_MEANING,
    check_sentence,
    checks_by_severity,
    exit_code_meaning,
    flatten_mapping,
    fmt_cell,
    fmt_ci,
    fmt_number,
    fmt_threshold,
    human_header,
    missing_evidence,
    preset_label,
    provenance_rows,
    verdict_label,
)
from audit.reports.md_text import md_escape, md_table
from audit.reports.summary import ExecutiveSummary, build_summary, is_self_check, verdict_sentence
from audit.reports.text_highlight import highlight_markdown
from audit.types import Measurement, Scorecard, SuiteResult, SuiteStatus, Verdict

MAX_MARKDOWN_CHARS = 40_000  # well under GitHub's 65,536-character limit for a comment
_ROW_LIMITS = (None, 50, 20, 10, 5, 2)
_MARKER = {
    Verdict.PASS: "✅",
    Verdict.WARN: "⚠️",
    Verdict.FAIL: "❌",
    Verdict.ERROR: "💥",
    Verdict.SKIPPED: "⏭️",
    Verdict.INSUFFICIENT_EVIDENCE: "❔",
    Verdict.UNRELIABLE: "🚫",
    Verdict.INCOMPLETE: "🕳️",
    Verdict.WAIVED: "🏷️",
}


def render_markdown(scorecard: Scorecard) -> str:
    """The Markdown scorecard; tables are cut (with a note) until it fits a PR comment."""
    for max_rows in _ROW_LIMITS:
        text = "\n".join(_document(scorecard, max_rows)) + "\n"
        if len(text) < MAX_MARKDOWN_CHARS:
            return text
    return _hard_truncate(text)


def _hard_truncate(text: str) -> str:
    note = "\n\n_Report truncated to fit a pull-request comment; see scorecard.html or scorecard.json._\n"
    cut = text.rfind("\n", 0, MAX_MARKDOWN_CHARS - len(note) - 1)
    return text[:cut] + note


def _verdict(verdict: Verdict | None) -> str:
    marker = "➖" if verdict is None else _MARKER[verdict]
    return f"{marker} **{verdict_label(verdict)}**"


def _document(sc: Scorecard, max_rows: int | None) -> list[str]:
    """What changed the verdict first (blocking findings, warnings), then pillars, checks and the detail."""
    summary = build_summary(sc)
    lines = [f"# Audit scorecard: {md_escape(sc.run.model)} on {md_escape(sc.run.dataset)}", ""]
    lines += _banner(sc) + _lead(sc, summary) + _run_line(sc) + _pillars(sc) + _checks(sc, max_rows)
    lines += ["## Suites", ""]
    for result in sc.results:
        if result.status is not SuiteStatus.SKIPPED:
            lines += _suite(result, max_rows)
    lines += _not_applicable(summary) + _self_checks(summary)
    config = {k: v for k, v in sc.config.items() if k != "card"} if isinstance(sc.config, dict) else sc.config
    lines += _details("Configuration", _key_value_rows(config), max_rows)
    lines += _details("Provenance", _provenance_rows(sc), max_rows)
    return lines


def _banner(sc: Scorecard) -> list[str]:
    lines = [
        f"> {_verdict(sc.verdict)} — {md_escape(verdict_sentence(sc, build_summary(sc)))} "
        f"{VERDICT_MEANING[sc.verdict]}",
        ">",
        f"> Exit code **{md_escape(sc.exit_code)}**: {exit_code_meaning(sc.exit_code)}.",
    ]
    for check in missing_evidence(sc):
        label = "No evidence" if check.verdict is Verdict.INCOMPLETE else "Allowed to be skipped"
        lines += [">", f"> {_MARKER[check.verdict]} **{label}: {md_escape(check.key)}** — {md_escape(check.reason)}"]
    if not sc.complete:
        lines += [">", "> ⚠️ **Incomplete run**: suites were still running or the run was stopped; "
                       "figures below cover only the suites that finished."]
    return lines + [""]


def _run_line(sc: Scorecard) -> list[str]:
    run = sc.run
    suites = ", ".join(md_escape(s) for s in run.suites) or "none"
    finished = md_escape(run.finished_at) if run.finished_at else "not finished"
    placement = f" · suites ran {md_escape(run.placement)}" if run.placement else ""
    return [f"Preset **{md_escape(preset_label(sc))}** · seed {md_escape(run.seed)} · device {md_escape(run.device)} · "
            f"suites: {suites} · started {md_escape(run.started_at)} · finished {finished}{placement}", ""]


def _lead(sc: Scorecard, summary: ExecutiveSummary) -> list[str]:
    """Each blocking finding with its figures and the next step; then the warnings, one line each."""
    lines: list[str] = []
    if summary.blocking:
        lines += ["## What stops a release", ""]
        for f in summary.blocking:
            gaps = "; ".join((f"**{md_escape(g.group)}** " if g.group else "") + md_escape(g.text) for g in f.gaps)
            lines += [f"- {_MARKER[f.verdict]} **{md_escape(f.title)}** — {md_escape(f.measured)}: {gaps}. "
                      f"Who is affected: {md_escape(f.impact)}. **Next step:** {md_escape(f.next_step)}"]
        lines += [""]
    if summary.warnings:
        items = [f"{md_escape(f.title)} ("
                 + ", ".join(f"{md_escape(g.group or g.check.key)} {fmt_number(g.check.value)}" for g in f.gaps) + ")"
                 for f in summary.warnings]
        lines += ["**Warnings** (do not block a release): " + "; ".join(items), ""]
    return lines


def _not_applicable(summary: ExecutiveSummary) -> list[str]:
    if not summary.not_applicable:
        return []
    return ["## Suites that did not apply", ""] + [
        f"- ⏭️ **{md_escape(r.suite)}**: {md_escape(r.reason) or 'no reason given'}" for r in summary.not_applicable
    ] + [""]


def _self_checks(summary: ExecutiveSummary) -> list[str]:
    if not summary.self_checks:
        return []
    failed = [s for s in summary.self_checks if not s.check.passed]
    head = (f"🚫 **{len(failed)} self-check(s) failed: those suites' figures are unreliable.**" if failed
            else f"All {len(summary.self_checks)} self-checks of the evaluation passed.")
    rows = [[md_escape(s.suite), "❌ **FAILED**" if not s.check.passed else "✅ passed", md_escape(s.check.name),
             md_escape(s.check.detail)] for s in summary.self_checks]
    return ["## Self-checks of the evaluation", "", head, ""] + _details(
        "Every self-check", [], None, md_table(["Suite", "Result", "Self-check", "Detail"], rows))


def _pillars(sc: Scorecard) -> list[str]:
    rows = [
        [md_escape(p.pillar), _verdict(p.verdict), md_escape(p.summary) or "not run",
         md_escape(p.eu_ai_act), md_escape(p.nist_ai_rmf)]
        for p in sc.pillars
    ]
    header = ["Pillar", "Verdict", "Summary", "EU AI Act", "NIST AI RMF"]
    return ["## Pillars", ""] + md_table(header, rows) + [""]


def _checks(sc: Scorecard, max_rows: int | None) -> list[str]:
    skipped = {r.suite for r in sc.results if r.status is SuiteStatus.SKIPPED}
    checks = [c for c in checks_by_severity(sc.checks) if not is_self_check(c) and c.key not in skipped]
    if not checks:
        return ["## Gated checks", "", "_No measurement was gated by the policy._", ""]
    rows = [
        [md_escape(c.key), _verdict(c.verdict), fmt_number(c.value), fmt_ci(c.ci),
         fmt_threshold(c.threshold), md_escape(check_sentence(c) if c.verdict is not Verdict.PASS else c.description)]
        for c in checks
    ]
    header = ["Check", "Verdict", "Value", "95% CI", "Threshold", "What it means"]
    return ["## Gated checks", ""] + md_table(header, rows, max_rows) + [""]


def _suite(result: SuiteResult, max_rows: int | None) -> list[str]:
    lines = [f"### {md_escape(result.suite)} ({md_escape(result.pillar)}) — {result.status.value}, "
             f"{result.duration_s:.1f} s", ""]
    if result.status is SuiteStatus.ERROR:
        lines += [f"💥 **Error:** {md_escape(result.reason) or 'no message'}", ""]
    failed = sum(not v.passed for v in result.validity)
    if failed:
        lines += [f"🚫 **{failed} self-check(s) failed: this suite's figures are unreliable.**", ""]
    lines += _notes(result) + ["<details>", f"<summary>Figures of {md_escape(result.suite)}</summary>", ""]
    lines += _measurements(result.measurements, max_rows)
    for table in result.tables:
        lines += [f"**{md_escape(table.title)}**", ""]
        if table.caption:
            lines += [md_escape(table.caption, line_start=True), ""]
        lines += highlight_markdown(table)
        cells = [[md_escape(fmt_cell(v)) for v in row] for row in table.rows]
        lines += md_table([md_escape(human_header(str(c))) for c in table.columns], cells, max_rows) + [""]
    if result.charts:
        titles = "; ".join(md_escape(chart.title) for chart in result.charts)
        lines += [f"Charts (in scorecard.html): {titles}", ""]
    lines += ["</details>", ""]
    return lines + _details(f"Parameters of {md_escape(result.suite)}", _key_value_rows(result.params), max_rows)


def _notes(result: SuiteResult) -> list[str]:
    if not result.notes:
        return []
    return ["**Notes**", ""] + [f"- {md_escape(note, line_start=True)}" for note in result.notes] + [""]


def _measurement_value(m: Measurement) -> str:
    if m.insufficient_reason:
        return f"{fmt_number(m.value)} (insufficient: {md_escape(m.insufficient_reason)})"
    return fmt_number(m.value)


def _measurements(measurements: tuple[Measurement, ...], max_rows: int | None) -> list[str]:
    if not measurements:
        return []
    rows = [[md_escape(m.name), _measurement_value(m), fmt_ci(m.ci), md_escape(m.n), md_escape(m.description)]
            for m in measurements]
    header = ["Measurement", "Value", "95% CI", "n", "Description"]
    return ["**Measurements**", ""] + md_table(header, rows, max_rows) + [""]


def _key_value_rows(mapping: object) -> list[list[str]]:
    return [[md_escape(key), md_escape(value)] for key, value in flatten_mapping(mapping)]


def _provenance_rows(sc: Scorecard) -> list[list[str]]:
    return [[md_escape(key), md_escape(value)] for key, value in provenance_rows(sc)]


def _details(summary: str, rows: list[list[str]], max_rows: int | None, body: list[str] | None = None) -> list[str]:
    if not rows and not body:
        return []
    body = body or md_table(["Key", "Value"], rows, max_rows)
    return ["<details>", f"<summary>{summary}</summary>", ""] + body + ["", "</details>", ""]
