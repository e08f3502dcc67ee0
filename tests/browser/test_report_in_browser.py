"""scorecard.html in a real headless Chromium (Debian's /usr/bin/chromium, driven over the DevTools pipe).

Checks what a reviewer would see at 1280×800: nothing wider than the viewport, every chart drawn, no console
error, no request beyond the file itself, the verdict and summary without scrolling, and a print-to-PDF page
count. Screenshots and the PDF are kept (AUDIT_BROWSER_ARTIFACTS, else a temporary folder printed below).
.ci/run installs Chromium, so its absence is a failure, not a skip.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from cdp import Browser, chromium_path, pdf_page_count  # noqa: E402
from sample_scorecard import build_scorecard  # noqa: E402

from audit.reports import render  # noqa: E402
from audit.types import Chart, Heatmap, Series, SuiteResult, SuiteStatus, Table  # noqa: E402

WIDTH, HEIGHT = 1280, 800

_LAYOUT = """(() => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5))
      wide.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${Math.round(r.right)}`);
  }
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const r = svg.getBoundingClientRect();
    return {w: r.width, h: r.height, parts: svg.querySelectorAll('*').length, label: svg.getAttribute('aria-label')};
  });
  const box = sel => { const e = document.querySelector(sel); if (!e) return null;
    const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom}; };
  return {vw, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 10), charts,
          banner: box('#summary .banner'), fixHeading: box('#what-to-fix'), pillars: box('#pillars'),
          scrollY: window.scrollY};
})()"""


def _wide_suite() -> SuiteResult:
    """The shapes that overflowed in the Adult report: a 14-column variants table with long prose, a 13-column
    outcomes-by-group table, long measurement keys, overlapping series and a heat map with thin cells."""
    variants = Table(
        id="variants", title="Compressed variants: footprint, speed and accuracy",
        columns=("variant", "weights", "size_bytes", "parameters", "nonzero", "sparsity", "latency_p50_ms",
                 "latency_p95_ms", "rows_per_s@256", "speedup", "peak_memory_bytes", "accuracy", "first_call_s", "how"),
        rows=tuple((f"structured50_{i}", "float32/qint8", 193733, 47394, 41835, 0.117293, 0.026168, 24.09671,
                    3562631.336094, 0.444026, 131072, 0.85695, 0.000292,
                    "torch.ao.quantization.quantize_dynamic (qint8 weights, nn.Linear only; torchao is not installed)")
                   for i in range(6)))
    groups = Table(
        id="groups", title="Outcomes by group",
        columns=("attribute", "group", "n", "base_rate", "selection_rate", "selection_rate_ci", "impact_ratio",
                 "accuracy", "tpr", "fpr", "fnr", "precision", "evidence"),
        rows=tuple(("race×age_group", f"Amer-Indian-Eskimo×{age}", 29, 0.0, 0.0, "[0.000, 0.000]", 0.0, 1.0, None,
                    0.0, None, None, "insufficient-evidence (n=29 < min_group_size 30)")
                   for age in ("<25", "25-44", "45-64", "65+")))
    same = (0.05, 0.1, 0.25, 0.5, 1.0)
    curve = Chart(id="robust_accuracy_curve_linf", title="Robust accuracy vs ε (linf)", kind="line", x_label="ε",
                  y_label="robust accuracy", series=tuple(Series(name, same, (0.842, 0.833, 0.801, 0.72, 0.519))
                                                          for name in ("fgsm", "pgd", "apgd-ce", "worst-case")))
    heat = Chart(id="intersection[race×age_group]", title="Selection rate by race×age_group", kind="heatmap",
                 heatmap=Heatmap(("Black", "White"), ("25-44", "65+", "<25"), ((0.08, 0.04, 0.0), (0.2, 0.12, 0.003))))
    return SuiteResult(suite="efficiency", pillar="efficiency", status=SuiteStatus.OK, tables=(variants, groups),
                       charts=(curve, heat), notes=("int8 is slower than fp32 on this machine.",))


@pytest.fixture(scope="module")
def page(artifacts):
    executable = chromium_path()
    if executable is None:
        pytest.fail("Chromium is not installed: `apt-get install -y chromium` (Debian) or set CHROMIUM=/path; "
                    ".ci/run installs it, so the browser test never skips")
    sample = build_scorecard()
    scorecard = dataclasses.replace(sample, results=sample.results + (_wide_suite(),))
    html_path = artifacts / "scorecard.html"
    html_path.write_text(render(scorecard, "html"), encoding="utf-8")
    with Browser(executable) as browser:
        browser.open(html_path.resolve().as_uri(), WIDTH, HEIGHT)
        layout = browser.evaluate(_LAYOUT)
        browser.screenshot(artifacts / "summary-1280x800.png")
        browser.screenshot(artifacts / "full-page.png", full_page=True)
        pdf = browser.print_pdf(artifacts / "scorecard-print.pdf").read_bytes()
        yield {"scorecard": scorecard, "layout": layout, "pdf": pdf, "browser": browser, "url": html_path.as_uri()}


def test_nothing_is_wider_than_the_viewport(page) -> None:
    layout = page["layout"]
    assert layout["vw"] == WIDTH
    assert layout["scrollWidth"] <= WIDTH and not layout["wide"], layout["wide"]


def test_every_chart_is_rendered(page) -> None:
    expected = sum(len(r.charts) for r in page["scorecard"].results)
    charts = page["layout"]["charts"]
    assert len(charts) == expected
    for chart in charts:
        assert chart["w"] > 100 and chart["h"] > 40 and chart["parts"] > 3, chart


def test_no_console_errors_and_no_network(page) -> None:
    browser = page["browser"]
    assert browser.console_errors() == []
    requests = [url for url in browser.requests() if not url.startswith("data:")]
    assert requests == [page["url"]]  # the report file itself; nothing else is fetched


def test_verdict_and_summary_visible_without_scrolling(page) -> None:
    layout = page["layout"]
    assert layout["scrollY"] == 0
    assert layout["banner"]["bottom"] <= HEIGHT and layout["fixHeading"]["bottom"] <= HEIGHT
    assert layout["pillars"]["bottom"] <= HEIGHT


def test_print_to_pdf_page_count(page, artifacts) -> None:
    pages = pdf_page_count(page["pdf"])
    assert 2 <= pages <= 8, pages  # A4 (the print stylesheet's @page); the sample plus the wide suite
    assert (artifacts / "summary-1280x800.png").stat().st_size > 10_000
