"""audit run-many: three zoo models as one job, a run folder each, and a leaderboard read from their scorecards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.leaderboard import Cell, Entry, Leaderboard, run_dir_name
from audit.reports.leaderboard import render_html, render_markdown

MODELS = ("german-mlp", "compas-mlp", "adult-mlp")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("many")
    result = CliRunner().invoke(app, ["run-many", "--model", ",".join(MODELS), "--suite", "accuracy,fairness",
                                      "--out", str(out)])
    return out, result.exit_code, result.output


def test_each_model_has_its_run_folder(job: tuple[Path, int, str]) -> None:
    out, code, output = job
    assert code in (0, 1), output
    for index, model in enumerate(MODELS):
        card = json.loads((out / run_dir_name(model, index) / "scorecard.json").read_text())
        assert card["run"]["model"] == model and card["complete"] is True


def test_leaderboard_figures_are_the_scorecards(job: tuple[Path, int, str]) -> None:
    out, _, _ = job
    board = json.loads((out / "leaderboard.json").read_text())
    assert [e["model"] for e in board["entries"]] == list(MODELS)
    assert board["pillars"] == ["accuracy", "fairness"]
    for index, entry in enumerate(board["entries"]):
        card = json.loads((out / run_dir_name(entry["model"], index) / "scorecard.json").read_text())
        accuracy = next(m for r in card["results"] if r["suite"] == "accuracy" for m in r["measurements"]
                        if m["name"] == "accuracy")
        cell = entry["cells"][0]
        assert (cell["metric"], cell["value"], cell["ci"]) == ("accuracy.accuracy", accuracy["value"], accuracy["ci"])
        dp = [m["value"] for r in card["results"] if r["suite"] == "fairness" for m in r["measurements"]
              if m["name"].startswith("dp_difference[")]
        assert entry["cells"][1]["value"] == max(dp)  # the worst attribute's gap
        verdicts = {p["pillar"]: p["verdict"] for p in card["pillars"]}
        assert [c["verdict"] for c in entry["cells"]] == [verdicts["accuracy"], verdicts["fairness"]]
    md = (out / "leaderboard.md").read_text()
    assert all(f"| {m} |" in md for m in MODELS) and "Fairness and bias" in md
    assert "<table>" in (out / "leaderboard.html").read_text()


def test_hostile_names_are_inert_in_both_renderings() -> None:
    evil = "<script>alert(1)</script>|**x**\x1b[31m"
    board = Leaderboard(("accuracy",), (Entry(evil, "/tmp/<b>", "fail", 1, True,
                                              (Cell("accuracy", "pass", f"accuracy.{evil}", 0.5, (0.4, 0.6), True),)),))
    html = render_html(board)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html
    md = render_markdown(board)
    assert "<script>" not in md and "\x1b" not in md and "\\|" in md


def test_unknown_model_is_refused_before_any_audit(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run-many", "--model", "german-mlp,germn-mlp", "--suite", "accuracy",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2 and "germn-mlp" in result.output and "german-mlp" in result.output
    assert not any(tmp_path.iterdir())
