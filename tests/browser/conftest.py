"""Browser-test artifacts: one folder per session, named in the terminal summary so CI logs point at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_USED: list[Path] = []


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("AUDIT_BROWSER_ARTIFACTS") or tmp_path_factory.mktemp("browser-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    _USED.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter) -> None:
    for folder in _USED:
        terminalreporter.write_line(f"browser artifacts (screenshots, printed PDF): {folder}")
