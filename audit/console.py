"""Terminal output: a rich progress bar per suite and the closing summary table."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from audit.types import Scorecard, SuiteResult, Verdict

_STYLE = {
    Verdict.PASS: "green", Verdict.WARN: "yellow", Verdict.FAIL: "red", Verdict.ERROR: "red",
    Verdict.UNRELIABLE: "magenta", Verdict.INSUFFICIENT_EVIDENCE: "yellow", Verdict.SKIPPED: "dim",
}


class RichProgress:
    """Implements runner.ProgressSink with one bar per suite."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def suite_started(self, name: str, index: int, total: int) -> None:
        self.name = f"[{index + 1}/{total}] {name}"
        self.task = self.progress.add_task(escape(self.name), total=1.0)

    def suite_progress(self, completed: float, total: float, description: str = "") -> None:
        if self.task is not None and total:
            label = f"{self.name}: {description}" if description else self.name
            self.progress.update(self.task, completed=min(completed / total, 1.0), description=escape(label))

    def suite_finished(self, result: SuiteResult) -> None:
        if self.task is not None:
            status = result.status.value + (f" ({result.reason[:80]})" if result.reason else "")
            self.progress.update(self.task, completed=1.0, description=escape(f"{self.name}: {status}"))


def summary_table(scorecard: Scorecard) -> Table:
    table = Table(title=f"audit of {scorecard.run.model} — verdict: {scorecard.verdict.value}")
    for column in ("pillar", "verdict", "summary"):
        table.add_column(column)
    for p in scorecard.pillars:
        verdict = Text(p.verdict.value if p.verdict else "not run", style=_STYLE.get(p.verdict, "dim"))
        table.add_row(p.pillar, verdict, Text(p.summary))
    return table


def failing_checks(scorecard: Scorecard, limit: int = 15) -> Table | None:
    bad = [c for c in scorecard.checks if c.verdict not in (Verdict.PASS, Verdict.SKIPPED)]
    if not bad:
        return None
    table = Table(title="checks that did not pass")
    for column in ("check", "verdict", "reason"):
        table.add_column(column)
    for c in bad[:limit]:
        table.add_row(Text(c.key), Text(c.verdict.value, style=_STYLE[c.verdict]), Text(c.reason))
    if len(bad) > limit:
        table.caption = f"… and {len(bad) - limit} more in the report"
    return table
