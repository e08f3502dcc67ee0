"""No pass without evidence, through `audit run`: a requested suite that is skipped makes the run incomplete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from audit import cli
from audit.testing import train_classifier


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = (frame["a"] + 0.3 * rng.normal(size=200) > 0).astype(int)
    frame.to_csv(root / "data.csv", index=False)
    x = torch.tensor(frame[["a", "b"]].to_numpy(), dtype=torch.float32)
    model = train_classifier(nn.Linear(2, 2), x, torch.tensor(frame["y"].to_numpy()), epochs=100)
    program = torch.export.export(model, (x[:8],), dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    torch.export.save(program, root / "model.pt2")
    return root


def _run(root: Path, out: str, *extra: str) -> tuple[int, str, dict]:
    args = ["run", "--suite", "fairness", "--model", str(root / "model.pt2"), "--data", str(root / "data.csv"),
            "--label", "y", "--out", str(root / out), *extra]
    result = CliRunner().invoke(cli.app, args)
    return result.exit_code, result.output, json.loads((root / out / "scorecard.json").read_text())


def test_fairness_without_sensitive_columns_is_incomplete_not_a_pass(user_files: Path) -> None:
    code, output, card = _run(user_files, "no-sensitive")
    assert code == 1, output
    assert card["verdict"] == "incomplete"
    check = next(c for c in card["checks"] if c["key"] == "evidence.fairness")
    assert check["verdict"] == "incomplete" and "--sensitive" in check["reason"]
    md = (user_files / "no-sensitive" / "scorecard.md").read_text()
    assert "No evidence" in md and "evidence.fairness" in md


def test_allow_skipped_opts_out_explicitly_and_is_recorded(user_files: Path) -> None:
    (user_files / "allow.toml").write_text('allow_skipped = ["fairness"]\n')
    code, output, card = _run(user_files, "allowed", "--config", str(user_files / "allow.toml"))
    assert code == 0, output
    assert card["config"]["allow_skipped"] == ["fairness"]
    check = next(c for c in card["checks"] if c["key"] == "evidence.fairness")
    assert check["verdict"] == "skipped" and "allow_skipped" in check["reason"]
    assert "Allowed to be skipped" in (user_files / "allowed" / "scorecard.md").read_text()


def test_unknown_names_in_require_are_input_errors(user_files: Path) -> None:
    (user_files / "bad.toml").write_text('require = ["fairnes"]\n')
    result = CliRunner().invoke(cli.app, ["run", "--config", str(user_files / "bad.toml")])
    assert result.exit_code == 2 and "fairness" in result.output


def _accuracy_run(root: Path, out: str, *extra: str) -> int:
    args = ["run", "--suite", "accuracy", "--model", str(root / "model.pt2"), "--data", str(root / "data.csv"),
            "--label", "y", "--out", str(root / out), *extra]
    result = CliRunner().invoke(cli.app, args)
    return result.exit_code


def test_run_with_baseline_writes_the_comparison_beside_the_run(user_files: Path) -> None:
    assert _accuracy_run(user_files, "release-1") == 0
    assert _accuracy_run(user_files, "release-2", "--baseline", str(user_files / "release-1")) == 0
    comparison = json.loads((user_files / "release-2" / "comparison" / "comparison.json").read_text())
    assert comparison["paired"] and comparison["exit_code"] == 0
    assert comparison["baseline"]["path"].endswith("release-1")


def test_compare_refuses_runs_on_different_data_with_exit_2(user_files: Path) -> None:
    other = user_files / "other"
    other.mkdir(exist_ok=True)
    frame = pd.read_csv(user_files / "data.csv").iloc[:150]
    frame.to_csv(other / "data.csv", index=False)
    (other / "model.pt2").write_bytes((user_files / "model.pt2").read_bytes())
    assert _accuracy_run(other, "run") == 0
    if not (user_files / "release-1").exists():
        assert _accuracy_run(user_files, "release-1") == 0
    result = CliRunner().invoke(cli.app, ["compare", str(user_files / "release-1"), str(other / "run")])
    assert result.exit_code == 2 and "--unpaired" in result.output and "Traceback" not in result.output
    unpaired = CliRunner().invoke(cli.app, ["compare", str(user_files / "release-1"), str(other / "run"),
                                            "--unpaired", "--out", str(other / "cmp")])
    # 200 against 150 rows, unpaired: too wide to rule out a 1-point accuracy drop, so never a pass.
    assert unpaired.exit_code == 1, unpaired.output
    comparison = json.loads((other / "cmp" / "comparison.json").read_text())
    assert not comparison["paired"] and comparison["verdict"] == "insufficient-evidence"
    assert "Unpaired" in (other / "cmp" / "comparison.md").read_text()
    missing = CliRunner().invoke(cli.app, ["compare", str(user_files / "nope"), str(other / "run")])
    assert missing.exit_code == 2 and "scorecard.json" in missing.output
