"""Untrusted strings (column names, group values, labels, notes, reasons, config) must render inert."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from sample_scorecard import IMG, SCRIPT

from audit.reports import render


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _TagCollector()
    parser.feed(html)
    return parser.tags


def test_markdown_has_no_raw_html_from_data(hostile_scorecard) -> None:
    md = render(hostile_scorecard, "md")
    assert "<script" not in md.lower() and "<img" not in md.lower()
    assert "&lt;script&gt;" in md  # the text is still there, shown as text


def test_markdown_renders_inert_under_a_commonmark_parser(hostile_scorecard) -> None:
    """An independent parser (markdown-it, raw HTML enabled like GitHub) must find no injected markup."""
    html = MarkdownIt("commonmark").enable("table").render(render(hostile_scorecard, "md"))
    tag_names = [tag for tag, _ in _tags(html)]
    assert "script" not in tag_names and "img" not in tag_names
    assert "a" not in tag_names and "code" not in tag_names and "em" not in tag_names
    assert tag_names.count("h1") == 1  # no heading injected through a newline
    assert "javascript:" not in "".join(str(attrs) for _, attrs in _tags(html))


def test_markdown_table_cells_cannot_add_columns(hostile_scorecard) -> None:
    html = MarkdownIt("commonmark").enable("table").render(render(hostile_scorecard, "md"))
    # GFM drops surplus cells, so also check that the injected text stayed whole inside its own cell.
    hostile_cells = [cell for cell in re.findall(r"<td>(.*?)</td>", html, flags=re.S) if "&lt;script" in cell]
    assert len(hostile_cells) > 10
    assert all("| x | y |" in cell and "# heading" in cell for cell in hostile_cells)
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        header_cells = len(re.findall(r"<th[ >]", table.split("</thead>")[0]))
        for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], flags=re.S):
            assert len(re.findall(r"<td[ >]", row)) == header_cells


def test_html_has_no_injected_tags_or_handlers(hostile_scorecard) -> None:
    html = render(hostile_scorecard, "html")
    tags = _tags(html)
    assert not [tag for tag, _ in tags if tag in ("script", "img", "iframe", "object", "embed", "link")]
    assert not [name for _, attrs in tags for name, _ in attrs if name.lower().startswith("on")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html and IMG not in html


def test_html_loads_nothing_from_the_network(hostile_scorecard) -> None:
    html = render(hostile_scorecard, "html")
    for _, attrs in _tags(html):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset"):
                assert value is not None and (value.startswith("#") or value.startswith("data:image/png;base64,"))
    assert "@import" not in html and "url(" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html)


def test_svg_text_is_escaped_inside_html(hostile_scorecard) -> None:
    html = render(hostile_scorecard, "html")
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert len(svgs) == 6
    for svg in svgs:
        ET.fromstring(svg)  # well-formed XML: nothing broke out of a text node or attribute
    assert any("&lt;img src=x onerror=alert(1)&gt;" in svg for svg in svgs)


def test_junit_keeps_hostile_text_as_text(hostile_scorecard) -> None:
    root = ET.fromstring(render(hostile_scorecard, "junit"))
    skipped = root.find(".//testcase[@name='privacy']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "SKIPPED: privacy. " + hostile_scorecard.results[3].reason
    assert not root.findall(".//script") and not root.findall(".//img")
