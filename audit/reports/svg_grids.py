"""Grid charts as inline SVG: annotated heatmaps and image grids (PNG data URIs, no network)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from audit.reports.formatting import fmt_number
from audit.reports.png import Pixels, data_uri, diverging_colour, diverging_png, grey_png, rgb_png, sequential_colour
from audit.reports.svg_axes import esc, finite, message_svg, natural_order, open_svg, px, short, text
from audit.types import Chart, Heatmap, ImageGrid

ColourMap = Callable[[float], tuple[int, int, int]]
_LABEL_WIDTH, _HEADER_HEIGHT, _COLOURBAR_WIDTH = 150.0, 90.0, 90.0


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _is_dark(rgb: tuple[int, int, int]) -> bool:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128


def _colour_scale(values: list[float]) -> tuple[ColourMap, float, float]:
    """Diverging around zero when the values change sign, otherwise sequential from min to max."""
    lo, hi = min(values), max(values)
    if lo < 0 < hi:
        bound = max(-lo, hi)
        return (lambda v: diverging_colour(v / bound)), -bound, bound
    span = (hi - lo) or 1.0
    return (lambda v: sequential_colour((v - lo) / span)), lo, hi


def render_heatmap(chart: Chart, cell_counts: Mapping[tuple[str, str], int] | None = None,
                   min_count: int = 0) -> str:
    """Annotated heat map; rows and columns in natural order; cells with fewer than `min_count` rows hatched."""
    grid = chart.heatmap
    values = finite(v for row in (grid.values if grid else ()) for v in row)
    if grid is None or not values:
        return message_svg(chart.title, "No finite values to draw.")
    grid = _naturally_ordered(grid)
    counts = cell_counts or {}
    colour, lo, hi = _colour_scale(values)
    cols = max(len(grid.col_labels), max(len(row) for row in grid.values))
    cell_w = max(14.0, min(64.0, 480.0 / max(cols, 1)))
    cell_h = max(12.0, min(28.0, 420.0 / max(len(grid.values), 1)))
    width = _LABEL_WIDTH + cols * cell_w + _COLOURBAR_WIDTH
    bar_height = max(len(grid.values) * cell_h, 100.0)
    height = _HEADER_HEIGHT + bar_height + 40
    out = open_svg(width, height, chart.title) + _heatmap_labels(grid, cell_w, cell_h)
    if chart.y_label:  # rows' meaning, top left above the row labels
        out.append(text(4, 16, "rows: " + short(chart.y_label, 40), "start", ' fill="#555555"', full=chart.y_label))
    sparse = False
    for r, row in enumerate(grid.values):
        for c, value in enumerate(row):
            n = _count(counts, grid, r, c)
            x, y = _LABEL_WIDTH + c * cell_w, _HEADER_HEIGHT + r * cell_h
            if n is not None and n < min_count:
                out += _sparse_cell(value, n, x, y, cell_w, cell_h)
                sparse = True
            else:
                out += _heatmap_cell(value, x, y, cell_w, cell_h, colour)
    out += _colour_bar(colour, lo, hi, _LABEL_WIDTH + cols * cell_w + 20, _HEADER_HEIGHT, bar_height)
    below_grid = _HEADER_HEIGHT + len(grid.values) * cell_h + 24
    out.append(text(_LABEL_WIDTH + cols * cell_w / 2, below_grid, short(chart.x_label, 70), full=chart.x_label))
    if sparse:
        out.append(text(4, height - 6, f"Hatched: fewer than {min_count} rows, too few to judge (not a zero).",
                        "start", ' fill="#555555" font-size="10"'))
    return "\n".join(out + ["</svg>"])


def _reorder(items: Sequence, order: list[int]) -> tuple:
    return tuple(items[i] for i in order if i < len(items))


def _naturally_ordered(grid: Heatmap) -> Heatmap:
    rows, cols = natural_order(grid.row_labels), natural_order(grid.col_labels)
    if rows == sorted(rows) and cols == sorted(cols) or len(rows) != len(grid.values):
        return grid
    values = tuple(_reorder(grid.values[r], cols) if len(grid.values[r]) == len(cols) else grid.values[r]
                   for r in rows)
    return Heatmap(_reorder(grid.row_labels, rows), _reorder(grid.col_labels, cols), values)


def _count(counts: Mapping[tuple[str, str], int], grid: Heatmap, r: int, c: int) -> int | None:
    if r >= len(grid.row_labels) or c >= len(grid.col_labels):
        return None
    return counts.get((grid.row_labels[r], grid.col_labels[c]))


def _sparse_cell(value: float | None, n: int, x: float, y: float, w: float, h: float) -> list[str]:
    """Too few rows to judge: pale, crossed by a diagonal and labelled with its row count, unlike a real zero."""
    tip = f"{fmt_number(value)} from only {n} row(s): too few to judge"
    return [f'<rect x="{px(x)}" y="{px(y)}" width="{px(w)}" height="{px(h)}" fill="#f4f4f4" stroke="#ffffff">'
            f"<title>{esc(tip)}</title></rect>",
            f'<line x1="{px(x + 2)}" y1="{px(y + h - 2)}" x2="{px(x + w - 2)}" y2="{px(y + 2)}" stroke="#bbbbbb"/>',
            text(x + w / 2, y + h / 2 + 4, f"n={n}", extra=' fill="#666666" font-style="italic"')]


def _heatmap_labels(grid: Heatmap, cell_w: float, cell_h: float) -> list[str]:
    out = []
    for r, label in enumerate(grid.row_labels):
        out.append(text(_LABEL_WIDTH - 6, _HEADER_HEIGHT + (r + 0.5) * cell_h + 4, short(label, 22), "end",
                        full=label))
    for c, label in enumerate(grid.col_labels):
        x, y = _LABEL_WIDTH + (c + 0.5) * cell_w, _HEADER_HEIGHT - 6
        out.append(text(x, y, short(label, 14), "start", f' transform="rotate(-45 {px(x)} {px(y)})"', full=label))
    return out


def _heatmap_cell(value: float | None, x: float, y: float, w: float, h: float, colour: ColourMap) -> list[str]:
    if not finite([value]):
        return [f'<rect x="{px(x)}" y="{px(y)}" width="{px(w)}" height="{px(h)}" fill="#dddddd" stroke="#ffffff"/>',
                text(x + w / 2, y + h / 2 + 4, "n/a", extra=' fill="#666666"')]
    rgb = colour(value)
    cell = [f'<rect x="{px(x)}" y="{px(y)}" width="{px(w)}" height="{px(h)}" fill="{_hex(rgb)}" stroke="#ffffff">'
            f"<title>{esc(fmt_number(value))}</title></rect>"]
    if w >= 28 and h >= 12:  # annotate only where the number fits
        fill = "#ffffff" if _is_dark(rgb) else "#222222"
        cell.append(text(x + w / 2, y + h / 2 + 4, fmt_number(value), extra=f' fill="{fill}"'))
    return cell


def _colour_bar(colour: ColourMap, lo: float, hi: float, x: float, y: float, height: float) -> list[str]:
    """Ten colour steps from the top (max) down to the bottom (min), labelled at both ends."""
    steps, step_h = 10, height / 10
    out = []
    for i in range(steps):
        value = hi - (hi - lo) * (i + 0.5) / steps
        out.append(f'<rect x="{px(x)}" y="{px(y + i * step_h)}" width="14" height="{px(step_h)}" '
                   f'fill="{_hex(colour(value))}"/>')
    out.append(text(x + 18, y + 9, fmt_number(hi), "start"))
    out.append(text(x + 18, y + height, fmt_number(lo), "start"))
    return out


def render_images(chart: Chart) -> str:
    grid = chart.images
    if grid is None or not grid.images or not any(grid.images) or not grid.images[0][0]:
        return message_svg(chart.title, "No images to draw.")
    first = grid.images[0][0]
    rows_px, cols_px = len(first), len(first[0]) // _values_per_pixel(grid)
    scale = max(1.0, 72.0 / max(rows_px, cols_px))
    cell_w, cell_h = cols_px * scale + 8, rows_px * scale + 8
    n_cols = max(len(row) for row in grid.images)
    label_w = 110.0
    width, height = max(label_w + n_cols * cell_w + 10, 420.0), 28 + len(grid.images) * cell_h + 24
    out = open_svg(width, height, chart.title)
    for c, label in enumerate(grid.col_labels):
        out.append(text(label_w + (c + 0.5) * cell_w, 18, short(label, 12), full=label))
    for r, row in enumerate(grid.images):
        label = grid.row_labels[r] if r < len(grid.row_labels) else ""
        out.append(text(label_w - 6, 28 + (r + 0.5) * cell_h, short(label, 16), "end", full=label))
        for c, pixels in enumerate(row):
            out.append(_image(grid, pixels, label_w + c * cell_w + 4, 28 + r * cell_h + 4, scale))
    out.append(text(4, height - 8, _cmap_note(grid), "start", ' fill="#555555" font-size="10"'))
    return "\n".join(out + ["</svg>"])


def _image(grid: ImageGrid, pixels: Pixels, x: float, y: float, scale: float) -> str:
    if not pixels or not pixels[0]:
        return text(x, y + 12, "n/a", "start")
    png = {"diverging": diverging_png, "rgb": rgb_png}.get(grid.cmap, grey_png)(pixels)
    return (f'<image x="{px(x)}" y="{px(y)}" width="{px(len(pixels[0]) // _values_per_pixel(grid) * scale)}" '
            f'height="{px(len(pixels) * scale)}" preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="{data_uri(png)}"/>')


def _values_per_pixel(grid: ImageGrid) -> int:
    return 3 if grid.cmap == "rgb" else 1  # colour rows interleave r, g, b


def _cmap_note(grid: ImageGrid) -> str:
    if grid.cmap == "rgb":
        return "Colour images, each channel from 0 (dark) to 1 (bright)."
    if grid.cmap == "diverging":
        return "Red positive, blue negative, white zero; each image scaled to its own maximum."
    return "Grey scale: black 0, white 1."
