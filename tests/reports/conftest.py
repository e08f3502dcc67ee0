"""Fixtures for the renderer tests: the sample scorecard, plain and with hostile strings everywhere."""

from __future__ import annotations

import pytest
from sample_scorecard import IMG, MARKDOWN_BREAKERS, SCRIPT, build_scorecard

from audit.types import Scorecard

HOSTILE = f" {SCRIPT} {IMG} {MARKDOWN_BREAKERS}"


@pytest.fixture(scope="session")
def scorecard() -> Scorecard:
    return build_scorecard()


@pytest.fixture(scope="session")
def hostile_scorecard() -> Scorecard:
    return build_scorecard(HOSTILE)
