"""Charts that read honestly: no drama from noise, categories in natural order, thin cells unlike zeros."""

from __future__ import annotations

import html
import re

from audit.reports.svg import render_chart_svg
from audit.reports.svg_axes import make_axis, natural_order
from audit.types import Chart, Heatmap, Series


def _tick_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', svg)


def test_flat_noise_gets_at_least_a_tenth_of_the_unit_range() -> None:
    # The natural-corruption curve of the Adult audit: accuracy 0.848-0.853 and no CI.
    chart = Chart(id="c", title="Accuracy under natural corruptions", kind="line",
                  series=(Series("noise", (0.05, 0.1, 0.25, 0.5), (0.85, 0.848, 0.851, 0.853)),))
    ticks = [float(t) for t in _tick_labels(render_chart_svg(chart))]
    assert max(ticks) - min(ticks) >= 0.1
    axis = make_axis([0.848, 0.853], 300, 20, False, min_span=0.1)
    assert axis.hi - axis.lo >= 0.1 and 0.0 <= axis.lo and axis.hi <= 1.0


def test_wide_ranges_and_cis_are_kept() -> None:
    axis = make_axis([0.2, 0.9, 0.15, 0.95], 300, 20, False, min_span=0.1)
    assert axis.lo <= 0.15 and axis.hi >= 0.95


def test_categories_in_natural_order() -> None:
    assert natural_order(["25-44", "45-64", "65+", "<25"]) == [3, 0, 1, 2]
    assert natural_order([">50K", "<=50K"]) == [1, 0]
    assert natural_order(["Male", "Female"]) == [0, 1]  # names keep the suite's order
    chart = Chart(id="b", title="Share by age", kind="bar", x_tick_labels=("25-44", "45-64", "65+", "<25"),
                  series=(Series("share", (0.0, 1.0, 2.0, 3.0), (0.19, 0.31, 0.12, 0.003)),))
    svg = render_chart_svg(chart)
    labels = re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([^<]+)</text>', svg)
    placed = sorted((float(x), html.unescape(label)) for x, label in labels)
    by_x = [label for _, label in placed if label in chart.x_tick_labels]
    assert by_x == ["<25", "25-44", "45-64", "65+"]
    bar_of_young = re.search(r'<rect x="([\d.]+)"[^>]*><title>share: x=3', svg)
    bar_of_prime = re.search(r'<rect x="([\d.]+)"[^>]*><title>share: x=0', svg)
    assert float(bar_of_young.group(1)) < float(bar_of_prime.group(1))  # the bar moves with its label


def test_heatmap_cells_with_too_little_data_differ_from_zeros() -> None:
    chart = Chart(id="intersection[race×age]", title="Selection rate", kind="heatmap",
                  heatmap=Heatmap(("Black", "White"), ("25-44", "<25"), ((0.08, 0.0), (0.2, 0.0))))
    svg = render_chart_svg(chart, {("Black", "<25"): 3, ("Black", "25-44"): 800, ("White", "<25"): 2400,
                                   ("White", "25-44"): 6800}, 30)
    assert svg.count("n=3") == 1 and "too few to judge" in svg
    # White×<25 is a real zero from 2,400 rows: annotated as 0
    assert len(re.findall(r'fill="#(?:222222|ffffff)">0</text>', svg)) == 1
    assert svg.index(">&lt;25<") < svg.index(">25-44<")  # columns in natural order


def test_overlapping_series_stay_distinct() -> None:
    same = (0.05, 0.1, 0.25)
    chart = Chart(id="l", title="Robust accuracy", kind="line",
                  series=(Series("fgsm", same, (0.84, 0.83, 0.8)), Series("pgd", same, (0.84, 0.83, 0.8))))
    svg = render_chart_svg(chart)
    lines = re.findall(r"<polyline points=\"[^\"]+\" fill=\"none\" stroke=\"(#\w+)\" stroke-width=\"2\"([^/]*)/>", svg)
    assert len(lines) == 2 and lines[0][0] != lines[1][0] and "stroke-dasharray" in lines[1][1]
    assert "<circle" in svg and "<rect x=" in svg  # circles for the first series, squares for the second
