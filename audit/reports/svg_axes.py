"""SVG primitives for the hand-drawn charts: escaping, axes with 'nice' ticks, frame, legend.

Output is deterministic: coordinates are printed with one decimal and nothing depends on time or ids.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from audit.reports.formatting import fmt_number
from audit.reports.xml_text import xml_safe

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
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
              include_zero: bool = False) -> Axis:
    """Axis over `values` widened to nice round bounds. Caller ensures log axes get positive values only."""
    data = list(values) + ([0.0] if include_zero and not log else [])
    lo, hi = (min(data), max(data)) if data else ((1.0, 10.0) if log else (0.0, 1.0))
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


def draw_legend(labels: Sequence[str], x: float, y: float) -> list[str]:
    """Colour swatches and labels in a column starting at (x, y)."""
    out = []
    for i, label in enumerate(labels):
        row_y = y + 16 * i
        colour = PALETTE[i % len(PALETTE)]
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
