"""SVG primitives for the hand-drawn charts: escaping, axes with 'nice' ticks, frame, legend.

Output is deterministic: coordinates are printed with one decimal and nothing depends on time or ids.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from audit.reports.formatting import fmt_number
from audit.reports.xml_text import xml_safe

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# Dash patterns and marker shapes per series, so series that coincide stay distinguishable (and in grey print).
DASHES = ("", "7 4", "2 3", "10 3 2 3", "4 2", "1 2", "12 4", "6 2 2 2")
MARKERS = ("circle", "square", "triangle", "diamond")
FONT = 'font-family="sans-serif" font-size="11"'


def esc(text: object) -> str:
    """Text or attribute content, escaped for SVG/HTML (quotes included)."""
    return html.escape(xml_safe(text), quote=True)


def short(text: str, limit: int = 28) -> str:
    """Long labels are shortened on the figure; the full text goes in a <title> tooltip."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def px(value: float) -> str:
    return f"{value:.1f}"


def finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]


@dataclass(frozen=True)
class Axis:
    """A data range mapped onto a pixel range (pixel_hi may be smaller than pixel_lo for y).

    Linear axes have bounds that are multiples of `step`; log axes span whole decades.
    """

    lo: float
    hi: float
    pixel_lo: float
    pixel_hi: float
    log: bool = False
    step: float = 1.0

    def to_px(self, value: float) -> float:
        if self.log:
            a, b, v = math.log10(self.lo), math.log10(self.hi), math.log10(value)
        else:
            a, b, v = self.lo, self.hi, value
        return self.pixel_lo + (v - a) / (b - a) * (self.pixel_hi - self.pixel_lo)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**k for k in range(round(math.log10(self.lo)), round(math.log10(self.hi)) + 1)]
        count = round((self.hi - self.lo) / self.step)
        return [round(self.lo + i * self.step, 12) for i in range(count + 1)]


def _nice_step(span: float, target_ticks: int = 5) -> float:
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5):
        if raw <= factor * magnitude * (1 + 1e-9):
            return factor * magnitude
    return 10 * magnitude


def make_axis(values: Sequence[float], pixel_lo: float, pixel_hi: float, log: bool,
              include_zero: bool = False, min_span: float = 0.0) -> Axis:
    """Axis over `values` widened to nice round bounds and to at least `min_span` (so noise does not look
    like drama). Caller ensures log axes get positive values only."""
    data = list(values) + ([0.0] if include_zero and not log else [])
    lo, hi = (min(data), max(data)) if data else ((1.0, 10.0) if log else (0.0, 1.0))
    if not log and hi - lo < min_span:
        lo, hi = _widen(lo, hi, min_span)
    if log:
        lo_exp, hi_exp = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return Axis(10.0**lo_exp, 10.0 ** max(hi_exp, lo_exp + 1), pixel_lo, pixel_hi, log=True)
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo)
    lo_nice = math.floor(lo / step + 1e-9) * step
    hi_nice = math.ceil(hi / step - 1e-9) * step
    return Axis(round(lo_nice, 12), round(hi_nice, 12), pixel_lo, pixel_hi, step=step)


_ORDERED_LABEL = re.compile(r"^\s*(<=|<|≤|>=|>|≥)?\s*(-?\d+(?:\.\d+)?)\s*(\+)?")


def natural_order(labels: Sequence[str]) -> list[int]:
    """Indices of `labels` in natural order when every label starts with a number ("<25", "25-44", "65+");
    otherwise the given order. "<25" sorts before "25-44", "65+" and ">50K" after the same number."""
    keys = []
    for label in labels:
        match = _ORDERED_LABEL.match(str(label))
        if match is None:
            return list(range(len(labels)))
        side = -1 if match.group(1) in ("<", "<=", "≤") else 1 if match.group(1) or match.group(3) else 0
        keys.append((float(match.group(2)), side))
    return sorted(range(len(labels)), key=lambda i: keys[i])


def _widen(lo: float, hi: float, span: float) -> tuple[float, float]:
    """[lo, hi] grown to `span` around its middle, kept inside [0, 1] when the data are shares."""
    middle = (lo + hi) / 2
    lo, hi = middle - span / 2, middle + span / 2
    if 0.0 <= lo + span / 2 <= 1.0 and span <= 1.0:  # a share: slide the window back inside [0, 1]
        if lo < 0.0:
            lo, hi = 0.0, span
        elif hi > 1.0:
            lo, hi = 1.0 - span, 1.0
    return lo, hi


def min_span_for(values: Sequence[float]) -> float:
    """The least y range a chart shows: 0.1 for shares in [0, 1], else a tenth of the largest magnitude."""
    if not values:
        return 0.0
    if min(values) >= 0.0 and max(values) <= 1.0:
        return 0.1
    return 0.1 * max(abs(v) for v in values)


def open_svg(width: float, height: float, label: str) -> list[str]:
    return [f'<svg class="chart" viewBox="0 0 {px(width)} {px(height)}" width="{px(width)}" height="{px(height)}" '
            f'role="img" aria-label="{esc(label)}" {FONT}>',
            f'<rect x="0" y="0" width="{px(width)}" height="{px(height)}" fill="#ffffff"/>']


def text(x: float, y: float, content: str, anchor: str = "middle", extra: str = "", full: str | None = None) -> str:
    """A text label; when `full` differs from the shown content it becomes a hover tooltip."""
    tip = f"<title>{esc(full)}</title>" if full is not None and full != content else ""
    return f'<text x="{px(x)}" y="{px(y)}" text-anchor="{anchor}"{extra}>{tip}{esc(content)}</text>'


def draw_frame(x_axis: Axis, y_axis: Axis, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
    """Grid lines, tick labels, axis lines and axis titles."""
    top, bottom = y_axis.pixel_hi, y_axis.pixel_lo
    left, right = x_axis.pixel_lo, x_axis.pixel_hi
    out = []
    for tick in y_axis.ticks():
        y = y_axis.to_px(tick)
        out.append(f'<line x1="{px(left)}" y1="{px(y)}" x2="{px(right)}" y2="{px(y)}" stroke="#e0e0e0"/>')
        out.append(text(left - 6, y + 4, fmt_number(tick), "end"))
    if x_ticks:
        for tick in x_axis.ticks():
            x = x_axis.to_px(tick)
            out.append(f'<line x1="{px(x)}" y1="{px(top)}" x2="{px(x)}" y2="{px(bottom)}" stroke="#f0f0f0"/>')
            out.append(text(x, bottom + 16, fmt_number(tick)))
    out.append(f'<polyline points="{px(left)},{px(top)} {px(left)},{px(bottom)} {px(right)},{px(bottom)}" '
               'fill="none" stroke="#333333"/>')
    out.append(text((left + right) / 2, bottom + 36, short(x_label, 70), full=x_label))
    mid = (top + bottom) / 2
    out.append(text(14, mid, short(y_label, 40), extra=f' transform="rotate(-90 14 {px(mid)})"', full=y_label))
    return out


def dash_attr(index: int) -> str:
    dash = DASHES[index % len(DASHES)]
    return f' stroke-dasharray="{dash}"' if dash else ""


def marker(shape_index: int, x: float, y: float, r: float, colour: str, tip: str) -> str:
    """A point marker; the shape cycles with the series so coinciding series remain visible."""
    shape = MARKERS[shape_index % len(MARKERS)]
    title = f"<title>{tip}</title>"
    if shape == "square":
        return (f'<rect x="{px(x - r)}" y="{px(y - r)}" width="{px(2 * r)}" height="{px(2 * r)}" fill="{colour}" '
                f'fill-opacity="0.85">{title}</rect>')
    if shape == "triangle":
        pts = f"{px(x)},{px(y - r * 1.2)} {px(x - r * 1.1)},{px(y + r * 0.8)} {px(x + r * 1.1)},{px(y + r * 0.8)}"
        return f'<polygon points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5">{title}</polygon>'
    if shape == "diamond":
        pts = f"{px(x)},{px(y - r * 1.3)} {px(x + r)},{px(y)} {px(x)},{px(y + r * 1.3)} {px(x - r)},{px(y)}"
        return f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.7">{title}</polygon>'
    return f'<circle cx="{px(x)}" cy="{px(y)}" r="{px(r)}" fill="{colour}">{title}</circle>'


def draw_legend(labels: Sequence[str], x: float, y: float, lines: bool = False) -> list[str]:
    """Colour swatches (or line samples with their dash and marker) and labels in a column from (x, y)."""
    out = []
    for i, label in enumerate(labels):
        row_y = y + 16 * i
        colour = PALETTE[i % len(PALETTE)]
        if lines:
            out.append(f'<line x1="{px(x - 4)}" y1="{px(row_y - 4)}" x2="{px(x + 14)}" y2="{px(row_y - 4)}" '
                       f'stroke="{colour}" stroke-width="2"{dash_attr(i)}/>')
            out.append(marker(i, x + 5, row_y - 4, 3.0, colour, esc(label)))
            out.append(text(x + 20, row_y, short(label, 23), "start", full=label))
            continue
        out.append(f'<rect x="{px(x)}" y="{px(row_y - 9)}" width="10" height="10" fill="{colour}"/>')
        out.append(text(x + 14, row_y, short(label, 24), "start", full=label))
    return out


def error_bar(x: float, y_lo: float, y_hi: float, colour: str) -> str:
    """A vertical error bar with caps, in pixel coordinates."""
    return (f'<path d="M{px(x)},{px(y_lo)} V{px(y_hi)} M{px(x - 3)},{px(y_lo)} H{px(x + 3)} '
            f'M{px(x - 3)},{px(y_hi)} H{px(x + 3)}" stroke="{colour}" fill="none"/>')


def message_svg(label: str, message: str, width: float = 560, height: float = 80) -> str:
    """A placeholder figure that says why nothing could be drawn."""
    lines = open_svg(width, height, label) + [text(width / 2, height / 2, message, full=message), "</svg>"]
    return "\n".join(lines)
