"""`audit report --format pdf`: a paginated PDF through WeasyPrint, or exit 2 naming the pip command."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from audit.cli import app
from audit.reports import write_reports

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "browser"))
from cdp import pdf_page_count  # noqa: E402


def test_report_format_pdf_writes_a_paginated_pdf(tmp_path, scorecard) -> None:
    write_reports(scorecard, tmp_path, formats=("json",))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "scorecard.json"), "--format", "pdf"])
    assert result.exit_code == 0, result.output
    pdf = (tmp_path / "scorecard.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert 2 <= pdf_page_count(pdf) <= 8  # the sample report: summary, card, checks, suites, appendix


def test_missing_pdf_extra_is_exit_2_with_the_pip_command(tmp_path, scorecard, monkeypatch) -> None:
    write_reports(scorecard, tmp_path, formats=("json",))
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now raises ImportError
    result = CliRunner().invoke(app, ["report", str(tmp_path / "scorecard.json"), "--format", "pdf"])
    assert result.exit_code == 2
    assert 'pip install "audit[pdf]"' in " ".join(result.output.split())
    assert not (tmp_path / "scorecard.pdf").exists()


def test_pdf_renderer_fetches_nothing() -> None:
    import pytest

    from audit.reports.pdf import _inline_only

    for url in ("file:///etc/passwd", "http://example.invalid/x.png", "https://example.invalid/"):
        with pytest.raises(ValueError, match="loads no external resource"):
            _inline_only(url)
