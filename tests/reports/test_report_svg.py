"""Charts: well-formed SVG whose geometry follows the data; images decoded with Pillow."""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from audit.reports.svg import render_chart_svg
from audit.types import Chart, Heatmap, ImageGrid, Series


def _svg(chart: Chart) -> ET.Element:
    return ET.fromstring(render_chart_svg(chart))


def test_every_sample_chart_is_well_formed(scorecard) -> None:
    for chart in scorecard.results[0].charts:
        root = _svg(chart)
        assert root.tag == "svg" and root.get("aria-label") == chart.title


def test_bar_heights_are_proportional_to_values() -> None:
    chart = Chart(id="b", title="bars", kind="bar", series=(Series("s", (0.0, 1.0, 2.0), (1.0, 2.0, 4.0)),))
    bars = [r for r in _svg(chart).iter("rect") if r.find("title") is not None]
    heights = [float(r.get("height")) for r in bars]
    assert heights[1] / heights[0] == pytest.approx(2, rel=1e-2)
    assert heights[2] / heights[0] == pytest.approx(4, rel=1e-2)
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 1) for r in bars}
    assert len(bottoms) == 1  # all bars stand on the same zero line


def test_log_axis_spaces_decades_evenly() -> None:
    chart = Chart(id="l", title="log", kind="line", log_x=True,
                  series=(Series("s", (1.0, 10.0, 100.0, 1000.0), (0.9, 0.8, 0.5, 0.1)),))
    xs = [float(c.get("cx")) for c in _svg(chart).iter("circle")]
    gaps = [b - a for a, b in zip(xs, xs[1:], strict=False)]
    assert max(gaps) - min(gaps) < 0.2
    ys = [float(c.get("cy")) for c in _svg(chart).iter("circle")]
    assert ys == sorted(ys)  # falling accuracy is drawn lower and lower (SVG y grows downwards)


def test_log_axis_with_non_positive_values_falls_back_with_a_note() -> None:
    chart = Chart(id="l", title="log", kind="scatter", log_x=True, series=(Series("s", (0.0, 1.0), (1.0, 2.0)),))
    svg = render_chart_svg(chart)
    assert "Linear x axis: log scale needs positive values." in svg
    assert len(re.findall("<circle", svg)) == 2


def test_missing_points_break_the_line_and_bands_follow_ci() -> None:
    series = Series("s", (0.0, 1.0, 2.0, 3.0), (1.0, math.nan, 2.0, 3.0))
    assert len(_svg(Chart(id="g", title="gap", kind="line", series=(series,))).findall("polyline")) == 2  # + frame
    banded = Series("s", (0.0, 1.0), (0.5, 0.6), lo=(0.4, 0.5), hi=(0.6, 0.7))
    assert len(_svg(Chart(id="b", title="band", kind="line", series=(banded,))).findall("polygon")) == 1


def test_heatmap_annotates_values_and_marks_missing() -> None:
    grid = Heatmap(("a", "b"), ("x", "y"), ((1.5, -2.0), (None, 0.0)))
    root = _svg(Chart(id="h", title="heat", kind="heatmap", heatmap=grid))
    labels = [t.text for t in root.iter("text")]
    assert {"1.5", "-2", "0", "n/a"} <= set(labels)
    zero_cell = [r for r in root.iter("rect") if r.findtext("title") == "0"][0]
    assert zero_cell.get("fill") == "#f7f7f7"  # signed values: diverging scale, zero is neutral


def _decode_png(href: str) -> Image.Image:
    assert href.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1])))


def test_image_grid_pixels_decode_to_the_data() -> None:
    pixels = ((0.0, 0.5, 1.0), (1.0, 0.25, 0.0))
    signed = ((-1.0, 0.0, 2.0), (0.0, 0.0, 0.0))
    grid = ImageGrid(("r",), ("grey", "signed"), ((pixels, signed),), cmap="gray")
    image = next(_svg(Chart(id="i", title="imgs", kind="images", images=grid)).iter("image"))
    decoded = _decode_png(image.get("href"))
    assert decoded.mode == "L" and decoded.size == (3, 2)
    assert list(decoded.tobytes()) == [round(v * 255) for row in pixels for v in row]
    diverging = dataclasses.replace(grid, cmap="diverging")
    images = list(_svg(Chart(id="d", title="d", kind="images", images=diverging)).iter("image"))
    raw = _decode_png(images[1].get("href")).convert("RGB").tobytes()
    rgb = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    assert rgb[2] == (180, 4, 38) and rgb[1] == (247, 247, 247)  # max -> full red, zero -> neutral
    assert rgb[0][2] > rgb[0][0]  # negative -> blue side


def test_unknown_kind_and_empty_data_give_placeholders() -> None:
    assert "cannot be drawn" in render_chart_svg(Chart(id="u", title="u", kind="<pie>"))
    assert "&lt;pie&gt;" in render_chart_svg(Chart(id="u", title="u", kind="<pie>"))
    empty = Chart(id="e", title="e", kind="line", series=(Series("s", (), ()),))
    assert "No finite data points" in render_chart_svg(empty)
