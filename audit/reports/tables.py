"""Suite tables and measurement lists as the HTML shows them: human headers, formatted cells, stable anchors."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from audit.reports.formatting import fmt_cell, fmt_threshold, human_header
from audit.reports.summary import anchor
from audit.reports.text_highlight import highlight_html
from audit.types import Check, Measurement, Table

WIDE_COLUMNS = 8  # tables with more columns get a smaller font and wrap anywhere, so they fit their column
# Narrow tables this long flow in two columns when printed (rows never split: break-inside avoid).
FLOW_MAX_COLUMNS, FLOW_MIN_ROWS = 7, 10


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool


@dataclass(frozen=True)
class TableView:
    anchor: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str
    wide: bool
    flows: bool  # printed in two columns
    has_missing: bool
    highlight: Markup | None = None  # word attributions as highlighted text (audit.reports.text_highlight)


@dataclass(frozen=True)
class MeasurementGroup:
    """Measurements sharing a metric ("dp_difference[sex]", "dp_difference[race]") and so one description."""

    metric: str
    description: str
    items: tuple[Measurement, ...]


def _cell(value: object) -> Cell:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return Cell(fmt_cell(value), numeric)


def table_view(suite: str, table: Table) -> TableView:
    rows = tuple(tuple(_cell(v) for v in row) for row in table.rows)
    return TableView(
        anchor=anchor(suite, "table", table.id),
        title=table.title,
        headers=tuple(human_header(str(c)) for c in table.columns),
        rows=rows,
        caption=table.caption,
        wide=len(table.columns) >= WIDE_COLUMNS,
        flows=len(table.columns) <= FLOW_MAX_COLUMNS and len(table.rows) >= FLOW_MIN_ROWS,
        has_missing=any(cell.text == "n/a" for row in rows for cell in row),
        highlight=highlight_html(table),
    )


def measurement_groups(measurements: tuple[Measurement, ...]) -> tuple[MeasurementGroup, ...]:
    """Measurements of one metric grouped in order of first appearance, the first description shown once.

    Per-measurement descriptions of one metric differ only in the group or variant they name, which the
    measurement's own name already says; scorecard.json keeps every description.
    """
    order: dict[str, list[Measurement]] = {}
    for m in measurements:
        order.setdefault(m.name.partition("[")[0], []).append(m)
    return tuple(MeasurementGroup(metric, items[0].description, tuple(items)) for metric, items in order.items())


@dataclass(frozen=True)
class CheckGroup:
    """Gated checks of one metric: the description once, then one row per group or variant."""

    metric: str
    description: str
    checks: tuple[Check, ...]
    threshold: str  # the bound shared by every check of the metric, or "" when they differ


def check_groups(checks: list[Check]) -> tuple[CheckGroup, ...]:
    order: dict[str, list[Check]] = {}
    for c in checks:
        order.setdefault(c.key.partition("[")[0], []).append(c)
    groups = []
    for metric, items in order.items():
        bounds = {fmt_threshold(c.threshold) if c.threshold else "" for c in items}
        shared = bounds.pop() if len(bounds) == 1 else ""
        groups.append(CheckGroup(metric, items[0].description, tuple(items), shared))
    return tuple(groups)
