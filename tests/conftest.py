"""Shared test set-up: one AUDIT_HOME per test session so zoo models train once."""

from __future__ import annotations

import os
import tempfile

import pytest

if "AUDIT_HOME" not in os.environ:
    os.environ["AUDIT_HOME"] = tempfile.mkdtemp(prefix="audit-home-")


@pytest.fixture(scope="session")
def audit_home() -> str:
    return os.environ["AUDIT_HOME"]
