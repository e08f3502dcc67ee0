"""scorecard.html: one self-contained page (inline CSS and SVG, no network), Jinja2 with autoescaping."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from audit.reports.formatting import (
    VERDICT_MEANING,
    check_sentence,
    checks_by_severity,
    exit_code_meaning,
    flatten_mapping,
    fmt_ci,
    fmt_json_value,
    fmt_number,
    fmt_threshold,
    provenance_rows,
    verdict_css,
    verdict_label,
)
from audit.reports.svg import render_chart_svg
from audit.reports.xml_text import xml_safe
from audit.types import Chart, Scorecard, SuiteResult, ValidityCheck

_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class SuiteView:
    """One suite as the template shows it: charts pre-drawn, failed validity checks first."""

    result: SuiteResult
    charts: tuple[tuple[Chart, Markup], ...]
    validity: tuple[ValidityCheck, ...]
    failed_validity: int
    params: tuple[tuple[str, Any], ...]


def _without_controls(value: Any) -> Any:
    """Every `{{ }}` output before escaping: data loses its control characters (an ESC sequence is inert in a
    browser, not when the file is printed on a terminal); markup we built (SVG, already XML-safe) stays as is."""
    return value if isinstance(value, Markup) else xml_safe(value)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # autoescape=True explicitly: select_autoescape would not cover the ".html.j2" name.
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, finalize=_without_controls)
    env.filters.update(num=fmt_number, ci=fmt_ci, threshold=fmt_threshold, value=fmt_json_value,
                       sentence=check_sentence, verdict_css=verdict_css, verdict_label=verdict_label)
    return env


def _suite_view(result: SuiteResult) -> SuiteView:
    # The SVG escapes every text it contains (svg_axes.esc), so it is marked safe here and only here.
    charts = tuple((chart, Markup(render_chart_svg(chart))) for chart in result.charts)
    validity = tuple(sorted(result.validity, key=lambda v: v.passed))
    failed = sum(not v.passed for v in result.validity)
    return SuiteView(result, charts, validity, failed, tuple(flatten_mapping(result.params)))


def render_html(scorecard: Scorecard) -> str:
    template = _environment().get_template("scorecard.html.j2")
    return template.render(
        sc=scorecard,
        checks=checks_by_severity(scorecard.checks),
        suites=[_suite_view(r) for r in scorecard.results],
        verdict_meaning=VERDICT_MEANING[scorecard.verdict],
        exit_meaning=exit_code_meaning(scorecard.exit_code),
        config=flatten_mapping(scorecard.config),
        provenance=provenance_rows(scorecard),
    )
