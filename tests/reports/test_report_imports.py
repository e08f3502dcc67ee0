"""Renderers stay light: importing and using them must not pull in torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_reports_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sample_scorecard import build_scorecard; from audit.reports import FORMATS, render;"
        "[render(build_scorecard(), f) for f in FORMATS];"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], check=True, cwd=tmp_path)
