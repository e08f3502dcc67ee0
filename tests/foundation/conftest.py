"""Fixtures for the text path: the tiny sentence-encoder folder and a text reference model built on it.

The foundation extra (sentence-transformers, the MiniLM wheel) is part of `.[dev]`: nothing here skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def text_home() -> Path:
    home = Path(os.environ["AUDIT_HOME"]) / "tiny-text"
    home.mkdir(parents=True, exist_ok=True)
    return home


@pytest.fixture(scope="session")
def tiny_folder(text_home: Path) -> Path:
    from audit.foundation.testing import tiny_encoder_folder

    folder = text_home / "tiny-encoder"
    if not (folder / "model.safetensors").is_file():
        tiny_encoder_folder(folder)
    return folder
