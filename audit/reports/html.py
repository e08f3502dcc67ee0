"""scorecard.html: one self-contained page (inline CSS and SVG, no network), Jinja2 with autoescaping.

Order: verdict and executive summary, model card beside what was measured, gated checks, suites, suites that
did not apply (one line each), the evaluation's self-checks (once), every measurement (appendix), settings
and provenance. The views below only arrange and format the scorecard; nothing is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from audit.card import SECTIONS, ModelCard, card_of
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
    human_header,
    missing_evidence,
    preset_label,
    provenance_rows,
    run_scope,
    verdict_css,
    verdict_label,
)
from audit.reports.summary import (
    ExecutiveSummary,
    anchor,
    build_summary,
    is_self_check,
    split_key,
    suite_anchor,
    verdict_sentence,
)
from audit.reports.svg import render_chart_svg
from audit.reports.tables import MeasurementGroup, TableView, check_groups, measurement_groups, table_view
from audit.reports.xml_text import xml_safe
from audit.types import Chart, Check, Scorecard, SuiteResult, SuiteStatus, Verdict

_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ChartView:
    chart: Chart
    svg: Markup
    anchor: str


@dataclass(frozen=True)
class SuiteView:
    """One suite as the template shows it: charts pre-drawn, tables formatted, parameters on one line."""

    result: SuiteResult
    anchor: str
    charts: tuple[ChartView, ...]
    tables: tuple[TableView, ...]
    failed_validity: int
    params: tuple[tuple[str, Any], ...]
    measurements: tuple[MeasurementGroup, ...]


@dataclass(frozen=True)
class Headline:
    label: str
    verdict: Verdict
    value: str
    ci: str
    anchor: str


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
                       sentence=check_sentence, verdict_css=verdict_css, verdict_label=verdict_label,
                       header=human_header, run_scope=run_scope)
    return env


def _heatmap_counts(result: SuiteResult, chart: Chart) -> tuple[dict[tuple[str, str], int], int]:
    """Rows behind each heat-map cell, read from the suite's own measurement details (groups "a×b", sizes)."""
    bracket = chart.id.partition("[")[2].rstrip("]")
    counts: dict[tuple[str, str], int] = {}
    minimum = 0
    for m in result.measurements:
        if bracket and m.name.partition("[")[2].rstrip("]") != bracket:
            continue
        groups, sizes = m.details.get("groups"), m.details.get("group_sizes")
        if not isinstance(groups, list) or not isinstance(sizes, list) or len(groups) != len(sizes):
            continue
        for group, size in zip(groups, sizes, strict=True):
            parts = str(group).split("×")
            if len(parts) == 2 and isinstance(size, int):
                counts[(parts[0], parts[1])] = size
        if isinstance(m.details.get("min_group_size"), int):
            minimum = max(minimum, m.details["min_group_size"])
    return counts, minimum


def _chart_view(result: SuiteResult, chart: Chart) -> ChartView:
    # The SVG escapes every text it contains (svg_axes.esc), so it is marked safe here and only here.
    counts, minimum = _heatmap_counts(result, chart) if chart.kind == "heatmap" else ({}, 0)
    svg = Markup(render_chart_svg(chart, counts, minimum))
    return ChartView(chart, svg, anchor(result.suite, "chart", chart.id))


def _suite_view(result: SuiteResult) -> SuiteView:
    return SuiteView(
        result=result,
        anchor=suite_anchor(result.suite),
        charts=tuple(_chart_view(result, chart) for chart in result.charts),
        tables=tuple(table_view(result.suite, table) for table in result.tables),
        failed_validity=sum(not v.passed for v in result.validity),
        params=tuple(flatten_mapping(result.params)),
        measurements=measurement_groups(result.measurements),
    )


def _headlines(scorecard: Scorecard) -> list[Headline]:
    """One gated figure per metric (its worst group), most serious first: the audit's figures at a glance."""
    seen: set[tuple[str, str]] = set()
    out = []
    for check in checks_by_severity(tuple(c for c in scorecard.checks if c.value is not None)):
        suite, metric, _ = split_key(check.key)
        if is_self_check(check) or (suite, metric) in seen:
            continue
        seen.add((suite, metric))
        _, _, group = split_key(check.key)
        label = f"{suite}: {human_header(metric)}" + (f" ({group})" if group else "")
        out.append(Headline(label, check.verdict, fmt_number(check.value), fmt_ci(check.ci), suite_anchor(suite)))
    return out[:10]


def _evaluation_rows(scorecard: Scorecard) -> list[tuple[str, str]]:
    p = scorecard.provenance
    rows = max((m.n for r in scorecard.results for m in r.measurements if m.n), default=0)
    return [
        ("Evaluation data", f"{scorecard.run.dataset} ({p.data_source})"),
        ("Largest sample", f"{fmt_number(rows)} rows behind one figure" if rows else "no figure measured"),
        ("Data sha256", p.data_sha256),
        ("Model", f"{scorecard.run.model} ({p.model_source})"),
        ("Model sha256", p.model_sha256),
        ("Preset, seed", f"{preset_label(scorecard)}, {scorecard.run.seed}"),
    ]


def _card_sections(card: ModelCard) -> list[tuple[str, list[tuple[str, str | None]]]]:
    from audit.card import CARD_FIELDS

    return [(section, [(f.label, card.get(f.key)) for f in CARD_FIELDS if f.section == section])
            for section in SECTIONS]


def _settings(scorecard: Scorecard) -> tuple[list[tuple[str, Any]], list[str]]:
    """Settings that differ from the defaults (and what the run used), and the names left at their default."""
    config = dict(scorecard.config) if isinstance(scorecard.config, Mapping) else {}
    config.pop("card", None)  # shown at the top
    defaults = _config_defaults()
    changed, default_names = [], []
    for key in sorted(config):
        value = config[key]
        if key in defaults and defaults[key] == value:
            default_names.append(key)
        elif isinstance(value, Mapping) and value:
            changed += flatten_mapping(value, key)
        elif value not in (None, {}, [], ()):
            changed.append((key, value))
        else:
            default_names.append(key)
    return changed, default_names


@lru_cache(maxsize=1)
def _config_defaults() -> dict[str, Any]:
    try:
        from audit.config import AuditConfig

        return AuditConfig().to_dict()
    except Exception:  # a renderer must still render when the config module cannot be imported
        return {}


def render_html(scorecard: Scorecard) -> str:
    template = _environment().get_template("scorecard.html.j2")
    summary: ExecutiveSummary = build_summary(scorecard)
    card = card_of(scorecard)
    settings, default_names = _settings(scorecard)
    skipped = {r.suite for r in scorecard.results if r.status is SuiteStatus.SKIPPED}
    gated: list[Check] = [c for c in checks_by_severity(scorecard.checks)
                          if not is_self_check(c) and c.key not in skipped and not c.key.startswith("evidence.")]
    return template.render(
        sc=scorecard,
        summary=summary,
        sentence=verdict_sentence(scorecard, summary),
        card=card,
        card_sections=_card_sections(card),
        title=card.get("model_name") or scorecard.run.model,
        headlines=_headlines(scorecard),
        evaluation=_evaluation_rows(scorecard),
        checks=gated,
        check_groups=check_groups(gated),
        suites=[_suite_view(r) for r in scorecard.results if r.status is not SuiteStatus.SKIPPED],
        verdict_meaning=VERDICT_MEANING[scorecard.verdict],
        missing=missing_evidence(scorecard),
        exit_meaning=exit_code_meaning(scorecard.exit_code),
        settings=settings,
        default_names=default_names,
        provenance=provenance_rows(scorecard),
    )
