"""scorecard.md content and the PR-comment size limit."""

from __future__ import annotations

import dataclasses

from audit.reports import render
from audit.reports.markdown import MAX_MARKDOWN_CHARS
from audit.types import Check, Table, Verdict


def test_sections_and_verdicts(scorecard) -> None:
    md = render(scorecard, "md")
    assert md.startswith("# Audit scorecard: adult-mlp on adult\n")
    assert "❌ **FAIL**" in md and "Exit code **1**: at least one gated check failed." in md
    assert "| efficiency | ➖ **NOT RUN** | not run |" in md
    assert "- ⏭️ **privacy**: needs capability 'training-data'" in md  # a suite that did not apply: one line
    assert "💥 **Error:** RuntimeError: shape mismatch" in md
    assert "1 self-check(s) failed" in md and "insufficient: Only 3 positives" in md
    # most serious check first
    assert md.index("fairness.dp\\_difference\\[sex\\]") < md.index("accuracy.accuracy |")


def test_leads_with_what_changed_the_verdict(scorecard) -> None:
    md = render(scorecard, "md")
    lead = md.index("## What stops a release")
    assert lead < md.index("## Pillars") < md.index("## Gated checks")
    assert "**DP difference** — " in md and "0.04 above the maximum 0.1" in md and "**Next step:**" in md
    assert "| robustness.validity" not in md  # self-checks are not gated rows; they have their own section
    assert "robustness: its evaluation failed a self-check" in md  # but a failed one is named as blocking
    assert len(md) < 40_000


def test_incomplete_run_is_flagged(scorecard) -> None:
    assert "Incomplete run" in render(dataclasses.replace(scorecard, complete=False), "md")
    assert "Incomplete run" not in render(scorecard, "md")


def test_long_tables_are_cut_with_a_note(scorecard) -> None:
    rows = tuple((f"group {i}", i / 5000, i) for i in range(5000))
    big = Table(id="big", title="Per group", columns=("group", "rate", "n"), rows=rows)
    checks = tuple(Check(f"fairness.gap[g{i}]", Verdict.PASS, "within bound", 0.01) for i in range(3000))
    result = dataclasses.replace(scorecard.results[0], tables=(big,))
    md = render(dataclasses.replace(scorecard, results=(result,), checks=checks), "md")
    assert len(md) < MAX_MARKDOWN_CHARS
    assert "more rows not shown; see scorecard.html or scorecard.json." in md
    assert "| group 0 | 0 | 0 |" in md and "## Provenance" not in md and "<summary>Provenance</summary>" in md


def test_unbounded_text_is_hard_truncated(scorecard) -> None:
    notes = tuple("x" * 2000 for _ in range(100))
    result = dataclasses.replace(scorecard.results[0], notes=notes)
    md = render(dataclasses.replace(scorecard, results=(result,)), "md")
    assert len(md) < MAX_MARKDOWN_CHARS
    assert md.endswith("_Report truncated to fit a pull-request comment; see scorecard.html or scorecard.json._\n")
