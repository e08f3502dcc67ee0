"""scorecard.pdf: the HTML report paginated by WeasyPrint (the `pdf` extra); same content, print stylesheet.

WeasyPrint is given the HTML as a string with a URL fetcher that refuses every URL except inline `data:` ones,
so nothing in a scorecard can make the PDF step read a local file or reach the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.errors import AuditInputError
from audit.reports.html import render_html
from audit.reports.json_io import atomic_write_bytes
from audit.types import Scorecard

INSTALL_HINT = ('pip install "audit[pdf]"  (WeasyPrint; on Debian/Ubuntu it also needs the system packages '
                'libpango-1.0-0 and libpangoft2-1.0-0)')


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the package is there but Pango is not
        raise AuditInputError(f"--format pdf needs WeasyPrint, which cannot be loaded ({exc}); install it with: "
                              f"{INSTALL_HINT}") from None
    return weasyprint


def _inline_only(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
    raise ValueError(f"the PDF renderer loads no external resource (refused {url[:80]!r})")


def render_pdf(scorecard: Scorecard) -> bytes:
    """The report as PDF bytes (A4, page breaks kept out of table rows and figures by the print CSS)."""
    weasyprint = _weasyprint()
    html = weasyprint.HTML(string=render_html(scorecard), url_fetcher=_inline_only, base_url="about:blank")
    return html.write_pdf()


def write_pdf(scorecard: Scorecard, path: Path) -> Path:
    return atomic_write_bytes(Path(path), render_pdf(scorecard))
