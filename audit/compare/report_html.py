"""comparison.html: one self-contained page (inline CSS and SVG, no network), Jinja2 with autoescaping.

Per pillar, side-by-side bars of both runs' figures with their 95% CIs (drawn by audit.reports.svg), then the
table of every compared measurement. Only the SVG, which escapes its own text, is marked safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from audit.compare.report_text import fmt_change, fmt_p, gates_by_severity, headline, pairing_sentence
from audit.compare.types import ComparedMeasurement, Comparison
from audit.reports.formatting import VERDICT_LABEL, fmt_ci, fmt_number, verdict_css
from audit.reports.svg import render_chart_svg
from audit.types import Chart, Series

BARS_PER_CHART = 10

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Release comparison: {{ c.candidate.model }} against {{ c.baseline.model }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
.runs td { overflow-wrap: anywhere; }
.banner { padding: 0.75rem 1rem; border-radius: 6px; margin-bottom: 1rem; background: #eef; }
.banner.pass { background: #e6f4ea; } .banner.fail { background: #fce8e6; }
.banner.insufficient-evidence, .banner.warn, .banner.waived { background: #fff4e5; }
.worse { color: #a50e0e; } .better { color: #137333; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
</style></head><body>
<h1>Release comparison: {{ c.candidate.model }} against {{ c.baseline.model }}</h1>
<section class="banner {{ css }}" aria-label="Verdict">
<div><strong>{{ label }}</strong> — {{ headline }} Exit code <strong>{{ c.exit_code }}</strong>.</div>
<div>{{ pairing }}</div>
</section>
<table class="runs">
<tr><th></th><th>Baseline</th><th>Candidate</th></tr>
<tr><th>Run</th><td>{{ c.baseline.path }}</td><td>{{ c.candidate.path }}</td></tr>
<tr><th>Model sha256</th><td>{{ c.baseline.model_sha256 }}</td><td>{{ c.candidate.model_sha256 }}</td></tr>
<tr><th>Data sha256</th><td>{{ c.baseline.data_sha256 }}</td><td>{{ c.candidate.data_sha256 }}</td></tr>
<tr><th>Run verdict</th><td>{{ c.baseline.verdict }} (exit {{ c.baseline.exit_code }})</td>
<td>{{ c.candidate.verdict }} (exit {{ c.candidate.exit_code }})</td></tr>
</table>
<h2>Regression gates</h2>
<table><tr><th>Verdict</th><th>Check</th><th>Change [95% CI]</th><th>Reason</th></tr>
{% for k in gates %}<tr><td>{{ k.verdict | verdict }}</td><td>{{ k.key }}</td>
<td>{{ k.value | num }} {{ k.ci | ci }}</td><td>{{ k.reason }}</td></tr>
{% else %}<tr><td colspan="4">No regression margin matched a compared measurement.</td></tr>{% endfor %}
</table>
{% if c.waivers %}<h2>Waivers</h2>
<table><tr><th>Check</th><th>State</th><th>Owner</th><th>Expires</th><th>Reason</th></tr>
{% for w in c.waivers %}<tr><td>{{ w.check }}</td><td>{{ w.state }}</td><td>{{ w.owner }}</td><td>{{ w.expires }}</td>
<td>{{ w.reason }}</td></tr>{% endfor %}</table>{% endif %}
{% for section in sections %}
<h2>{{ section.suite }}</h2>
<div class="charts">{% for svg in section.charts %}{{ svg }}{% endfor %}</div>
<table><tr><th>Measurement</th><th>Baseline [95% CI]</th><th>Candidate [95% CI]</th><th>Change [95% CI]</th>
<th>p</th><th>p (BH)</th><th>Test</th></tr>
{% for r in section.rows %}<tr class="{{ r.direction if r.significant else '' }}"><td>{{ r.key }}</td>
<td>{{ r.baseline.value | num }} {{ r.baseline.ci | ci }}</td>
<td>{{ r.candidate.value | num }} {{ r.candidate.ci | ci }}</td>
<td>{{ r | change }}</td><td>{{ r.p_value | p }}</td><td>{{ r.p_adjusted | p }}</td><td>{{ r.method }}</td></tr>
{% endfor %}</table>
{% endfor %}
{% if c.notes %}<h2>Notes</h2><ul>{% for n in c.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


@dataclass(frozen=True)
class _Section:
    suite: str
    charts: tuple[Markup, ...]
    rows: tuple[ComparedMeasurement, ...]


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt_number, ci=fmt_ci, p=fmt_p, change=fmt_change, verdict=lambda v: VERDICT_LABEL[v])
    return env


def render_comparison_html(comparison: Comparison) -> str:
    suites = list(dict.fromkeys(r.suite for r in comparison.measurements))
    sections = [_section(s, [r for r in comparison.measurements if r.suite == s]) for s in suites]
    return _environment().from_string(_TEMPLATE).render(
        c=comparison, sections=sections, css=verdict_css(comparison.verdict),
        gates=gates_by_severity(comparison.checks),
        label=VERDICT_LABEL[comparison.verdict], headline=headline(comparison), pairing=pairing_sentence(comparison),
    )


def _section(suite: str, rows: Sequence[ComparedMeasurement]) -> _Section:
    # The SVG escapes every text it contains (svg_axes.esc), so it is marked safe here and only here.
    charts = tuple(Markup(render_chart_svg(chart)) for chart in side_by_side_charts(suite, rows))
    return _Section(suite, charts, tuple(rows))


def _on_unit_scale(r: ComparedMeasurement) -> bool:
    bounds = [r.baseline.value, r.candidate.value, *(r.baseline.ci or ()), *(r.candidate.ci or ())]
    return all(v is not None and -0.001 <= v <= 1.001 for v in bounds)


def side_by_side_charts(suite: str, rows: Sequence[ComparedMeasurement]) -> list[Chart]:
    """Bars of both runs' figures with 95% CIs, for the figures on a 0–1 scale (shares, rates, AUCs, gaps);
    figures on other scales (latencies, sizes) are left to the table, where a shared axis would mislead."""
    drawable = [r for r in rows if _on_unit_scale(r)]
    charts = []
    for start in range(0, len(drawable), BARS_PER_CHART):
        part = drawable[start : start + BARS_PER_CHART]
        names = tuple(r.key.split(".", 1)[1] for r in part)
        x = tuple(float(i) for i in range(len(part)))
        series = tuple(_series(label, x, [getattr(r, side) for r in part])
                       for label, side in (("baseline", "baseline"), ("candidate", "candidate")))
        page = f" ({start // BARS_PER_CHART + 1})" if len(drawable) > BARS_PER_CHART else ""
        charts.append(Chart(id=f"compare-{suite}-{start}", title=f"{suite}: baseline and candidate{page}", kind="bar",
                            y_label="value (95% CI)", series=series, x_tick_labels=names))
    return charts


def _series(label: str, x: tuple[float, ...], sides: list) -> Series:
    y = tuple(float(s.value) for s in sides)
    lo = tuple(float(s.ci[0]) if s.ci else float(s.value) for s in sides)
    hi = tuple(float(s.ci[1]) if s.ci else float(s.value) for s in sides)
    return Series(label=label, x=x, y=y, lo=lo, hi=hi)
