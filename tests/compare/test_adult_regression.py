"""Gating a release against its baseline on the bundled Adult data, end to end through `audit compare`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit import cli
from audit.data.reference import load_adult
from audit.testing import tabular_model
from tests.compare.helpers import audit_run, favouring

CHECK = "regression.fairness.dp_difference[sex]"


@pytest.fixture(scope="module")
def adult_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = load_adult()
    base = tabular_model(data, epochs=25, hidden=(16,))
    cand = favouring(base, data, "sex=Male", 1.5)  # a release that favours men: selection-rate gap widens
    root = tmp_path_factory.mktemp("adult")
    return audit_run(root / "base", data, base), audit_run(root / "cand", data, cand)


def _compare(base: Path, cand: Path, out: Path, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli.app, ["compare", str(base), str(cand), "--out", str(out), "--resamples", "200",
                                          *extra])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads((out / "comparison.json").read_text())


def _check(comparison: dict, key: str) -> dict:
    return next(c for c in comparison["checks"] if c["key"] == key)


def test_comparing_a_run_with_itself_finds_no_regression(adult_runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = adult_runs
    code, comparison = _compare(base, base, tmp_path / "self")
    assert code == 0 and comparison["verdict"] == "pass"
    assert all(c["verdict"] == "pass" for c in comparison["checks"]) and comparison["checks"]
    assert not any(m["significant"] for m in comparison["measurements"])
    for name in ("comparison.md", "comparison.html", "junit.xml"):
        assert (tmp_path / "self" / name).is_file()


def test_a_candidate_that_breaks_fairness_fails_naming_the_check(adult_runs: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    base, cand = adult_runs
    code, comparison = _compare(base, cand, tmp_path / "worse")
    assert code == 1 and comparison["verdict"] == "fail"
    check = _check(comparison, CHECK)
    assert check["verdict"] == "fail" and "beyond the allowed rise of 0.02" in check["reason"]
    assert check["ci"][0] > 0.02  # the whole CI of the change lies beyond the margin
    md = (tmp_path / "worse" / "comparison.md").read_text()
    assert "dp\\_difference\\[sex\\]" in md and "Significantly worse" in md
    assert CHECK in (tmp_path / "worse" / "junit.xml").read_text()


def _waiver_config(path: Path, expires: dt.date) -> Path:
    path.write_text(f'[[waivers]]\ncheck = "{CHECK}"\nreason = "accepted for the pilot; fix in 2.1"\n'
                    f'owner = "fairness-team"\nexpires = "{expires.isoformat()}"\n')
    return path


def test_a_waiver_turns_the_failure_into_waived(adult_runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, cand = adult_runs
    config = _waiver_config(tmp_path / "waive.toml", dt.date.today() + dt.timedelta(days=30))
    code, comparison = _compare(base, cand, tmp_path / "waived", "--config", str(config))
    check = _check(comparison, CHECK)
    assert check["verdict"] == "waived" and "fairness-team" in check["reason"] and "pilot" in check["reason"]
    assert comparison["waivers"][0]["state"] == "active"
    other_failures = [c for c in comparison["checks"] if c["verdict"] in ("fail", "insufficient-evidence")
                      and c["threshold"]["severity"] == "fail"]
    assert code == (1 if other_failures else 0)
    assert comparison["verdict"] != "pass"  # a waived failure is never a pass


def test_an_expired_waiver_is_ignored_and_reported(adult_runs: tuple[Path, Path], tmp_path: Path) -> None:
    base, cand = adult_runs
    config = _waiver_config(tmp_path / "old.toml", dt.date.today() - dt.timedelta(days=1))
    code, comparison = _compare(base, cand, tmp_path / "expired", "--config", str(config))
    check = _check(comparison, CHECK)
    assert code == 1 and check["verdict"] == "fail" and "expired" in check["reason"]
    assert comparison["waivers"][0]["state"] == "expired"
