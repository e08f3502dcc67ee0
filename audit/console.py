"""Terminal output: a rich progress bar per suite and the closing summary table.

Every string that reaches the terminal passes through `printable`: column names, group values, model names
and error messages come from files an attacker may have written, and an escape sequence in them would
otherwise clear the screen or move the cursor. Table cells wrap rather than being cut, also in CI logs.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from audit.reports.formatting import run_scope
from audit.types import Scorecard, SuiteResult, Verdict

_STYLE = {
    Verdict.PASS: "green", Verdict.WARN: "yellow", Verdict.FAIL: "red", Verdict.ERROR: "red",
    Verdict.UNRELIABLE: "magenta", Verdict.INSUFFICIENT_EVIDENCE: "yellow", Verdict.SKIPPED: "dim",
    Verdict.INCOMPLETE: "red", Verdict.WAIVED: "cyan",
}


# C0 and C1 control characters, DEL, and the Unicode marks that reorder text on screen (bidi overrides).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object, keep_newlines: bool = False) -> str:
    """`text` with every control character shown as a visible escape (ESC -> `\\x1b`) instead of acting."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_visible, str(text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


@contextlib.contextmanager
def warnings_shown_on(console: Console) -> Iterator[None]:
    """Python warnings as one clean `audit: warning:` line each: their text may quote column names from data."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        console.print(f"audit: warning: {printable(message)}", markup=False)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def step_label(suite: str, description: str) -> str:
    """A progress step without the suite name it may repeat ("fairness: group metrics" -> "group metrics")."""
    for prefix in (suite, suite.replace("-", " ")):
        if description.startswith(f"{prefix}:"):
            return description[len(prefix) + 1:].strip()
    return description


def _wrapping(*names: str) -> list[Column]:
    return [Column(name, overflow="fold") for name in names]


class RichProgress:
    """Implements runner.ProgressSink with one bar per suite."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}", table_column=Column(overflow="fold", ratio=1)),
                                 BarColumn(), TimeElapsedColumn(), console=console, transient=False)
        self.bars: dict[str, tuple[TaskID, str]] = {}  # suite -> its bar and label
        self.suite: str | None = None  # the suite started last

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def suite_started(self, name: str, index: int, total: int) -> None:
        self.suite = name
        label = printable(f"[{index + 1}/{total}] {name}")
        self.bars[name] = (self.progress.add_task(escape(label), total=1.0), label)

    def suite_progress(self, completed: float, total: float, description: str = "") -> None:
        """A step of the suite started last (suites that run one after another)."""
        if self.suite is not None:
            self.suite_progress_of(self.suite, completed, total, description)

    def suite_progress_of(self, suite: str, completed: float, total: float, description: str = "") -> None:
        """A step of the named suite (suites that run side by side in workers)."""
        if suite in self.bars and total:
            task, name = self.bars[suite]
            step = printable(step_label(suite, description))
            label = f"{name}: {step}" if step else name
            self.progress.update(task, completed=min(completed / total, 1.0), description=escape(label))

    def suite_finished(self, result: SuiteResult) -> None:
        if result.suite in self.bars:
            task, name = self.bars[result.suite]
            status = result.status.value + (f" ({printable(result.reason)})" if result.reason else "")
            self.progress.update(task, completed=1.0, description=escape(f"{name}: {status}"))


def summary_table(scorecard: Scorecard) -> Table:
    table = Table(*_wrapping("pillar", "verdict", "summary"), caption=Text(run_header(scorecard)),
                  title=Text(printable(f"audit of {scorecard.run.model} — verdict: {scorecard.verdict.value}")))
    for p in scorecard.pillars:
        verdict = Text(p.verdict.value if p.verdict else "not run", style=_STYLE.get(p.verdict, "dim"))
        table.add_row(Text(printable(p.pillar)), verdict, Text(printable(p.summary)))
    return table


def run_header(scorecard: Scorecard) -> str:
    """What ran: the preset by name, or the suites chosen one by one (which run at the full preset's settings)."""
    run = scorecard.run
    return printable(f"{run_scope(scorecard)} · data {run.dataset} · seed {run.seed}")


def failing_checks(scorecard: Scorecard, limit: int = 15) -> Table | None:
    bad = [c for c in scorecard.checks if c.verdict not in (Verdict.PASS, Verdict.SKIPPED)]
    if not bad:
        return None
    table = Table(*_wrapping("check", "verdict", "reason"), title="checks that did not pass")
    for c in bad[:limit]:
        table.add_row(Text(printable(c.key)), Text(c.verdict.value, style=_STYLE.get(c.verdict, "")),
                      Text(printable(c.reason)))
    if len(bad) > limit:
        table.caption = f"… and {len(bad) - limit} more in the report"
    return table
