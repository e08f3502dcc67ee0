"""`audit compare` of two full-preset Adult runs: every measurement, 1,000 paired resamples per suite
(target: under 10 s on 2 cores).

The full-preset run of adult-mlp is made once and cached under $AUDIT_HOME/bench/ (it takes many minutes);
set AUDIT_BENCH_FULL_RUN to an existing full-preset run folder to use that instead. The candidate is a copy of
the run: a comparison does the same work whatever the figures are (nothing short-cuts on equal rows).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.compare import compare_dirs, settings_from_config
from audit.config import AuditConfig
from audit.home import audit_home


@pytest.fixture(scope="module")
def full_run() -> Path:
    given = os.environ.get("AUDIT_BENCH_FULL_RUN")
    run = Path(given) if given else audit_home() / "bench" / "adult-mlp-full"
    if not (run / "scorecard.json").is_file():
        subprocess.run([sys.executable, "-m", "audit", "run", "--suite", "full", "--model", "adult-mlp",
                        "--device", "cpu", "--out", str(run)], check=False, capture_output=True)
    assert (run / "evidence").is_dir(), f"{run} has no per-row evidence; re-run the full preset"
    return run


@pytest.fixture(scope="module")
def candidate(full_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("candidate") / "run"
    shutil.copytree(full_run, copy, ignore=shutil.ignore_patterns("comparison"))
    return copy


def test_compare_two_full_adult_runs(benchmark, full_run: Path, candidate: Path, tmp_path: Path) -> None:
    settings = settings_from_config(AuditConfig(), resamples=1000)

    def compare() -> object:
        return compare_dirs(full_run, candidate, settings, tmp_path / "comparison")[0]

    cpu = time.process_time()
    comparison = benchmark.pedantic(compare, rounds=2, iterations=1)
    benchmark.extra_info["cpu_seconds_per_round"] = round((time.process_time() - cpu) / 2, 2)
    paired = [m for m in comparison.measurements if m.method.startswith(("paired", "exact McNemar"))]
    benchmark.extra_info["measurements"] = len(comparison.measurements)
    benchmark.extra_info["paired_tested"] = len(paired)
    assert comparison.paired and comparison.exit_code == 0 and len(paired) > 50
