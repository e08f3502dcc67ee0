"""Scorecard renderers: JSON, Markdown (PR comment), self-contained HTML, JUnit XML, model card (model-card.md).

The PDF (audit.reports.pdf, WeasyPrint) is rendered on request: `audit report --format pdf` or `audit bundle`.

Renderers only format a `Scorecard`; they compute nothing and never import torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from audit.errors import AuditInputError
from audit.reports.json_io import atomic_write_text, load_scorecard, render_json, write_json

if TYPE_CHECKING:
    from audit.types import Scorecard

FORMATS = ("json", "md", "html", "junit", "card")
FILE_NAMES = {"json": "scorecard.json", "md": "scorecard.md", "html": "scorecard.html", "junit": "junit.xml",
              "card": "model-card.md"}
# format -> (module, function); a renderer's module (jinja2 for HTML) is imported when it first renders, so
# `audit --help` and the progress display (audit.reports.formatting) do not load every renderer.
_RENDERERS: dict[str, tuple[str, str]] = {
    "json": ("audit.reports.json_io", "render_json"),
    "md": ("audit.reports.markdown", "render_markdown"),
    "html": ("audit.reports.html", "render_html"),
    "junit": ("audit.reports.junit", "render_junit"),
    "card": ("audit.card", "render_model_card_md"),
}


def _renderer(fmt: str) -> Callable[[Scorecard], str]:
    module, name = _RENDERERS[fmt]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


__all__ = ["FILE_NAMES", "FORMATS", "atomic_write_text", "load_scorecard", "render", "render_json", "write_json",
           "write_reports"]


def _check_format(fmt: str) -> None:
    if fmt not in _RENDERERS:
        raise AuditInputError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}.")


def render(scorecard: Scorecard, fmt: str) -> str:
    """The scorecard in one format ("json", "md", "html", "junit" or "card")."""
    _check_format(fmt)
    return _renderer(fmt)(scorecard)


def write_reports(scorecard: Scorecard, out_dir: Path, formats: Iterable[str] = FORMATS) -> dict[str, Path]:
    """Write each format into `out_dir` (scorecard.json/.md/.html, junit.xml), each atomically."""
    formats = tuple(formats)
    for fmt in formats:
        _check_format(fmt)  # all names checked before anything is written
    out_dir = Path(out_dir)
    return {fmt: atomic_write_text(out_dir / FILE_NAMES[fmt], render(scorecard, fmt)) for fmt in formats}
