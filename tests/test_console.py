"""Terminal output: no control character from data reaches the terminal, and tables wrap instead of cutting."""

from __future__ import annotations

import io
import re
import warnings

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from audit import cli
from audit.console import (
    RichProgress,
    failing_checks,
    printable,
    step_label,
    summary_table,
    warnings_shown_on,
)
from audit.types import (
    SCHEMA_VERSION,
    Check,
    PillarSummary,
    Provenance,
    RunInfo,
    Scorecard,
    SuiteResult,
    SuiteStatus,
    Verdict,
)

CLEAR_SCREEN = "\x1b[2J\x1b[H"
CSI_C1 = "\x9b31m"  # the one-byte C1 form of ESC [
BIDI = "\u202e"  # right-to-left override: makes text display reversed
HOSTILE = f"Fe{CLEAR_SCREEN}male{CSI_C1}\x07\r{BIDI}"
LONG_KEY = "fairness.equalized_odds_difference[race=Asian-Pac-Islander,sex=Female,age=65+]"
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _card(inject: str = "", key: str = "fairness.dp_difference[sex]", suite: str = "full",
          suites: tuple[str, ...] = ("accuracy", "fairness")) -> Scorecard:
    provenance = Provenance(audit_version="0", python="3", platform="linux", packages={}, torch="2", cuda=None,
                            device_name="cpu", model_sha256="0", model_source="file", data_sha256="0",
                            data_source="d.csv", config_sha256="0", git_commit=None)
    return Scorecard(
        schema_version=SCHEMA_VERSION,
        run=RunInfo(model=f"model{inject}", dataset=f"data{inject}.csv", preset="full", suites=suites, seed=0,
                    device="cpu", started_at="t0", finished_at="t1"),
        provenance=provenance, config={"suite": suite}, results=(),
        checks=(Check(f"{key}{inject}", Verdict.FAIL, f"group {inject} is 0.3 above the maximum"),),
        pillars=(PillarSummary("fairness", Verdict.FAIL, f"1 failed: group {inject}", "Art. 10", "MEASURE 2.11"),),
        verdict=Verdict.FAIL, exit_code=1, complete=True,
    )


def _render(*renderables: object, width: int = 80) -> str:
    """As a CI log sees it: not a terminal, 80 columns."""
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)
    for item in renderables:
        console.print(item)
    return console.file.getvalue()


@given(st.text())
def test_printable_leaves_no_control_character(text: str) -> None:
    shown = printable(text)
    assert not RAW_CONTROL.search(shown) and "\n" not in shown
    assert "\n" not in RAW_CONTROL.sub("", printable(text, keep_newlines=True).replace("\n", ""))


def test_printable_shows_escapes_visibly_and_keeps_plain_text() -> None:
    assert printable("Female") == "Female"
    assert printable("a\x1b[2Jb\x9b\u202e") == "a\\x1b[2Jb\\x9b\\u202e"
    assert printable("line one\nline two", keep_newlines=True) == "line one\nline two"


def test_summary_and_failing_checks_carry_no_escape_sequences() -> None:
    card = _card(HOSTILE)
    out = _render(summary_table(card), failing_checks(card))
    assert not RAW_CONTROL.search(out), repr(out)
    assert "\\x1b[2J" in out  # shown, harmlessly, so a reviewer sees the name was hostile


def _cells(out: str, column: int) -> str:
    """The text of one table column, its wrapped lines joined."""
    parts = [line.split("│")[column].strip() for line in out.splitlines() if line.count("│") >= 4]
    return "".join(parts)


def test_long_check_names_wrap_instead_of_being_cut_at_80_columns() -> None:
    out = _render(failing_checks(_card(key=LONG_KEY)))
    assert "…" not in out
    assert LONG_KEY in _cells(out, 1)
    assert all(len(line) <= 80 for line in out.splitlines())


def test_progress_lines_are_clean_and_name_the_suite_once() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=False, color_system=None)
    with RichProgress(console) as progress:
        progress.suite_started("fairness", 1, 2)
        progress.suite_progress(1, 4, "fairness: group metrics")
        progress.suite_progress(2, 4, f"fairness: proxies of {HOSTILE}")
        progress.suite_finished(SuiteResult("fairness", "fairness", SuiteStatus.ERROR, reason=f"bad {HOSTILE}"))
    out = console.file.getvalue()
    assert "fairness: fairness" not in out and not RAW_CONTROL.search(out), repr(out)
    assert step_label("fairness", "fairness: group metrics") == "group metrics"
    assert step_label("text-fairness", "text fairness: SEAT") == "SEAT"
    assert step_label("accuracy", "bootstrapping") == "bootstrapping"


def test_header_names_the_suites_of_a_comma_list() -> None:
    chosen = _render(summary_table(_card(suite="accuracy,fairness")))
    assert "suites chosen with --suite" in " ".join(chosen.split()) and "preset full" not in chosen
    assert "(accuracy, fairness)" in " ".join(chosen.split())
    preset = " ".join(_render(summary_table(_card(suite="full"))).split())
    assert "full preset · data" in preset


def test_error_messages_are_stripped(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["run", "--model", f"evil{CLEAR_SCREEN}.pt2"])
    assert result.exit_code == 2 and not RAW_CONTROL.search(result.output), repr(result.output)


def test_run_help_shows_defaults() -> None:
    result = CliRunner().invoke(cli.app, ["run", "--help"], env={"COLUMNS": "200"})
    flat = " ".join(result.output.split())
    for shown in ("[default: (full)]", "[default: (adult-mlp)]", "[default: (auto)]", "[default: (0)]",
                  "[default: (value)]", "[default: (off)]", "[default: (reports/<model>-<time>)]"):
        assert shown in flat, shown


def test_warnings_are_one_clean_line() -> None:
    """A library warning may quote a column name from the data (pandas' mixed-type warning does)."""
    console = Console(file=io.StringIO(), width=80, force_terminal=False, color_system=None)
    with warnings_shown_on(console):
        warnings.simplefilter("always")
        warnings.warn(f"Columns (3: {HOSTILE}) have mixed types", UserWarning, stacklevel=1)
    out = console.file.getvalue()
    assert out.startswith("audit: warning: Columns (3: Fe\\x1b[2J") and not RAW_CONTROL.search(out), repr(out)
    assert "UserWarning" not in out and ".py:" not in out
