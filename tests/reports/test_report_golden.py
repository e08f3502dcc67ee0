"""Golden files: each format of the sample scorecard byte for byte. AUDIT_UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit.reports import FILE_NAMES, FORMATS, render

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("fmt", FORMATS)
def test_matches_golden(scorecard, fmt: str) -> None:
    rendered = render(scorecard, fmt)
    path = GOLDEN / FILE_NAMES[fmt]
    if os.environ.get("AUDIT_UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8", newline="\n")
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, f"{fmt} output changed; inspect, then rerun with AUDIT_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendering_is_deterministic(fmt: str) -> None:
    from sample_scorecard import build_scorecard

    # Two independently built (equal) scorecards must give the same bytes.
    assert render(build_scorecard(), fmt).encode() == render(build_scorecard(), fmt).encode()
