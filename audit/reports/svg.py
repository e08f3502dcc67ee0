"""Charts as inline SVG, drawn by hand: small, deterministic and free of network resources.

`render_chart_svg(chart)` draws every `Chart` kind: line (optional lo/hi band, log axes), bar (grouped,
error bars), scatter (error bars), heatmap and images (see svg_grids). All text is escaped with `esc`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from audit.reports.formatting import fmt_number
from audit.reports.svg_axes import (
    PALETTE,
    Axis,
    dash_attr,
    draw_frame,
    draw_legend,
    error_bar,
    esc,
    finite,
    make_axis,
    marker,
    message_svg,
    min_span_for,
    natural_order,
    open_svg,
    px,
    short,
    text,
)
from audit.reports.svg_grids import render_heatmap, render_images
from audit.types import Chart, Series

WIDTH, HEIGHT = 640.0, 340.0
LEFT, TOP, BOTTOM_MARGIN = 64.0, 24.0, 50.0
LEGEND_WIDTH = 170.0


def render_chart_svg(chart: Chart, cell_counts: Mapping[tuple[str, str], int] | None = None,
                     min_cell_count: int = 0) -> str:
    """One chart as an `<svg>` element string; unknown kinds or empty data give an explanatory placeholder.

    `cell_counts` (heat maps): rows behind each (row label, column label) cell; cells with fewer than
    `min_cell_count` are drawn as "too few rows", unlike a real zero.
    """
    if chart.kind == "heatmap":
        return render_heatmap(chart, cell_counts or {}, min_cell_count)
    drawers: dict[str, Callable[[Chart], str]] = {
        "line": _xy_chart, "scatter": _xy_chart, "bar": _bar_chart, "images": render_images,
    }
    drawer = drawers.get(chart.kind)
    if drawer is None:
        return message_svg(chart.title, f"Chart kind '{chart.kind}' cannot be drawn by this release.")
    return drawer(chart)


def _usable_log(values: list[float], wanted: bool) -> bool:
    return wanted and bool(values) and min(values) > 0


def _plot_right(chart: Chart) -> float:
    return WIDTH - (LEGEND_WIDTH if len(chart.series) > 1 else 20.0)


def _series_values(series: tuple[Series, ...], attr: str) -> list[float]:
    values: list[float] = []
    for s in series:
        values += finite(getattr(s, attr) or ())
    return values


def _fallback_notes(chart: Chart, log_x: bool, log_y: bool) -> list[str]:
    notes = []
    if chart.log_x and not log_x:
        notes.append("x")
    if chart.log_y and not log_y:
        notes.append("y")
    if not notes:
        return []
    msg = f"Linear {' and '.join(notes)} axis: log scale needs positive values."
    return [text(WIDTH - 20, 14, msg, "end", ' fill="#a15c00"')]


def _axes(chart: Chart, include_zero: bool) -> tuple[Axis, Axis, list[str]] | None:
    xs = _series_values(chart.series, "x")
    ys = _series_values(chart.series, "y") + _series_values(chart.series, "lo") + _series_values(chart.series, "hi")
    if not xs or not ys:
        return None
    log_x, log_y = _usable_log(xs, chart.log_x), _usable_log(ys, chart.log_y)
    x_axis = make_axis(xs, LEFT, _plot_right(chart), log_x)
    y_axis = make_axis(ys, HEIGHT - BOTTOM_MARGIN, TOP, log_y, include_zero=include_zero, min_span=min_span_for(ys))
    return x_axis, y_axis, _fallback_notes(chart, log_x, log_y)


def _drawable(axis: Axis, value: float | None) -> bool:
    return bool(finite([value])) and (not axis.log or value > 0)  # type: ignore[operator]


def _xy_chart(chart: Chart) -> str:
    axes = _axes(chart, include_zero=False)
    if axes is None:
        return message_svg(chart.title, "No finite data points to draw.")
    x_axis, y_axis, out = axes
    body = open_svg(WIDTH, HEIGHT, chart.title) + draw_frame(x_axis, y_axis, chart.x_label, chart.y_label) + out
    for i, series in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        if chart.kind == "line":
            body += _band(series, x_axis, y_axis, colour) + _polylines(series, x_axis, y_axis, colour, i)
        else:
            body += _error_bars(series, x_axis, y_axis, colour)
        body += _markers(series, x_axis, y_axis, colour, i if len(chart.series) > 1 else 0)
    if len(chart.series) > 1:
        body += draw_legend([s.label for s in chart.series], _plot_right(chart) + 16, TOP + 10, lines=True)
    return "\n".join(body + ["</svg>"])


def _points(series: Series, x_axis: Axis, y_axis: Axis) -> list[tuple[int, float, float]]:
    """(index, px, py) of each point both axes can place; others are gaps."""
    return [(i, x_axis.to_px(x), y_axis.to_px(y)) for i, (x, y) in enumerate(zip(series.x, series.y, strict=False))
            if _drawable(x_axis, x) and _drawable(y_axis, y)]


def _polylines(series: Series, x_axis: Axis, y_axis: Axis, colour: str, index: int) -> list[str]:
    """The line, broken wherever a point is missing (NaN, or non-positive on a log axis)."""
    segments: list[list[str]] = []
    previous = -2
    for i, x, y in _points(series, x_axis, y_axis):
        if i != previous + 1:
            segments.append([])
        segments[-1].append(f"{px(x)},{px(y)}")
        previous = i
    return [f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2"'
            f'{dash_attr(index)} stroke-opacity="0.9"/>' for seg in segments if len(seg) > 1]


def _interval(series: Series, i: int, y_axis: Axis) -> tuple[float, float] | None:
    if series.lo is None or series.hi is None or i >= len(series.lo) or i >= len(series.hi):
        return None
    lo, hi = series.lo[i], series.hi[i]
    if not (_drawable(y_axis, lo) and _drawable(y_axis, hi)):
        return None
    return y_axis.to_px(lo), y_axis.to_px(hi)


def _band(series: Series, x_axis: Axis, y_axis: Axis, colour: str) -> list[str]:
    """The lo–hi interval of a line as a translucent band (drawn where every point has an interval)."""
    pairs = [(x, _interval(series, i, y_axis)) for i, x, _ in _points(series, x_axis, y_axis)]
    if len(pairs) < 2 or any(iv is None for _, iv in pairs):
        return []
    upper = [f"{px(x)},{px(iv[1])}" for x, iv in pairs if iv]
    lower = [f"{px(x)},{px(iv[0])}" for x, iv in reversed(pairs) if iv]
    return [f'<polygon points="{" ".join(upper + lower)}" fill="{colour}" fill-opacity="0.18" stroke="none"/>']


def _error_bars(series: Series, x_axis: Axis, y_axis: Axis, colour: str) -> list[str]:
    out = []
    for i, x, _ in _points(series, x_axis, y_axis):
        interval = _interval(series, i, y_axis)
        if interval:
            out.append(error_bar(x, interval[0], interval[1], colour))
    return out


def _markers(series: Series, x_axis: Axis, y_axis: Axis, colour: str, shape: int) -> list[str]:
    radius = 2.5 if len(series.x) > 40 else 3.5
    return [marker(shape, x, y, radius, colour, f"{esc(series.label)}: {esc(_point_label(series, i))}")
            for i, x, y in _points(series, x_axis, y_axis)]


def _point_label(series: Series, i: int) -> str:
    label = f"x={fmt_number(series.x[i])}, y={fmt_number(series.y[i])}"
    if series.lo is not None and series.hi is not None and i < min(len(series.lo), len(series.hi)):
        label += f" [{fmt_number(series.lo[i])}, {fmt_number(series.hi[i])}]"
    return label


def _bar_chart(chart: Chart) -> str:
    """Grouped bars: one group per distinct x, one bar per series, from zero (or the log floor).

    Series named by ordered categories (age "<25", "25-44", …) are drawn in natural order, as are named x groups.
    """
    order = natural_order([s.label for s in chart.series])
    chart = dataclasses.replace(chart, series=tuple(chart.series[i] for i in order))
    axes = _axes(chart, include_zero=True)
    if axes is None:
        return message_svg(chart.title, "No finite data points to draw.")
    _, y_axis, out = axes
    categories = sorted(set(_series_values(chart.series, "x")))
    slots = _slots(chart, categories)
    right = _plot_right(chart)
    group = (right - LEFT) / len(categories)
    bar = group * 0.8 / max(len(chart.series), 1)
    x_axis = Axis(0.0, 1.0, LEFT, right)  # frame only; bars are placed by category
    body = open_svg(WIDTH, HEIGHT, chart.title) + draw_frame(x_axis, y_axis, chart.x_label, chart.y_label,
                                                             x_ticks=False) + out
    base = y_axis.to_px(y_axis.lo if y_axis.log else max(y_axis.lo, 0.0))
    for s_index, series in enumerate(chart.series):
        colour = PALETTE[s_index % len(PALETTE)]
        for i, (x, y) in enumerate(zip(series.x, series.y, strict=False)):
            if x not in categories or not _drawable(y_axis, y):
                continue
            left = LEFT + group * slots[categories.index(x)] + group * 0.1 + bar * s_index
            top = y_axis.to_px(y)
            body.append(f'<rect x="{px(left)}" y="{px(min(top, base))}" width="{px(bar)}" '
                        f'height="{px(abs(base - top))}" fill="{colour}"><title>{esc(series.label)}: '
                        f"{esc(_point_label(series, i))}</title></rect>")
            interval = _interval(series, i, y_axis)
            if interval:
                body.append(error_bar(left + bar / 2, interval[0], interval[1], "#333333"))
    body += _category_labels(chart, categories, group, bar, slots)
    if len(chart.series) > 1:
        body += draw_legend([s.label for s in chart.series], right + 16, TOP + 10)
    return "\n".join(body + ["</svg>"])


def _slots(chart: Chart, categories: list[float]) -> list[int]:
    """Where each category is drawn: named categories in natural order (age "<25" before "25-44"), else as given."""
    if chart.x_tick_labels and len(chart.x_tick_labels) == len(categories):
        order = natural_order(chart.x_tick_labels)
        return [order.index(i) for i in range(len(categories))]
    return list(range(len(categories)))


def _category_labels(chart: Chart, categories: list[float], group: float, bar: float, slots: list[int]) -> list[str]:
    """Named or numeric x under each group; with a single group, the series labels under their own bars."""
    y = HEIGHT - BOTTOM_MARGIN + 16
    if chart.x_tick_labels and len(chart.x_tick_labels) == len(categories):
        fits = max(3, int(group / 6.5))
        return [text(LEFT + group * (slots[i] + 0.5), y, short(label, fits), full=label)
                for i, label in enumerate(chart.x_tick_labels)]
    if len(categories) == 1:
        fits = max(3, int(bar / 6.5))  # about 6.5 px per character at font-size 11
        return [text(LEFT + group * 0.1 + bar * (i + 0.5), y, short(s.label, fits), full=s.label)
                for i, s in enumerate(chart.series)]
    return [text(LEFT + group * (i + 0.5), y, fmt_number(x)) for i, x in enumerate(categories)]
