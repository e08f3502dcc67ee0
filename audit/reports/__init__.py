"""Scorecard renderers: JSON, Markdown (PR comment), self-contained HTML, JUnit XML, model card (model-card.md).

The PDF (audit.reports.pdf, WeasyPrint) is rendered on request: `audit report --format pdf` or `audit bundle`.

Renderers only format a `Scorecard`; they compute nothing and never import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from audit.card import render_model_card_md
from audit.errors import AuditInputError
from audit.reports.html import render_html
from audit.reports.json_io import atomic_write_text, load_scorecard, render_json, write_json
from audit.reports.junit import render_junit
from audit.reports.markdown import render_markdown
from audit.types import Scorecard

FORMATS = ("json", "md", "html", "junit", "card")
FILE_NAMES = {"json": "scorecard.json", "md": "scorecard.md", "html": "scorecard.html", "junit": "junit.xml",
              "card": "model-card.md"}
_RENDERERS: dict[str, Callable[[Scorecard], str]] = {
    "json": render_json,
    "md": render_markdown,
    "html": render_html,
    "junit": render_junit,
    "card": render_model_card_md,
}

__all__ = ["FILE_NAMES", "FORMATS", "load_scorecard", "render", "write_json", "write_reports"]


def _check_format(fmt: str) -> None:
    if fmt not in _RENDERERS:
        raise AuditInputError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}.")


def render(scorecard: Scorecard, fmt: str) -> str:
    """The scorecard in one format ("json", "md", "html", "junit" or "card")."""
    _check_format(fmt)
    return _RENDERERS[fmt](scorecard)


def write_reports(scorecard: Scorecard, out_dir: Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Write each format into `out_dir` (scorecard.json/.md/.html, junit.xml), each atomically."""
    formats = tuple(formats)
    for fmt in formats:
        _check_format(fmt)  # all names checked before anything is written
    out_dir = Path(out_dir)
    return {fmt: atomic_write_text(out_dir / FILE_NAMES[fmt], render(scorecard, fmt)) for fmt in formats}
