"""`audit run --suite accuracy` on the cached adult-mlp, end to end (target: under 15 s on 2 cores)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def trained() -> None:
    """Train (or find cached) adult-mlp first: the target is for the cached model."""
    subprocess.run([sys.executable, "-m", "audit", "train", "adult-mlp", "--device", "cpu"], check=True)


def test_accuracy_suite_on_cached_adult_mlp(benchmark, trained: None, tmp_path: Path) -> None:
    def run() -> int:
        return subprocess.run(
            [sys.executable, "-m", "audit", "run", "--suite", "accuracy", "--device", "cpu", "--out", str(tmp_path)],
            capture_output=True,
        ).returncode

    code = benchmark.pedantic(run, rounds=3, iterations=1)
    assert code in (0, 1)
