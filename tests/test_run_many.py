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


def test_one_model_under_several_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """german-mlp twice, each entry's file layered over --config: two rows named MODEL@FILE, each its own settings."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.toml").write_text("seed = 3\n")
    (tmp_path / "few.toml").write_text("[suites.accuracy]\nbootstrap_resamples = 100\n")
    (tmp_path / "many.toml").write_text("[suites.accuracy]\nbootstrap_resamples = 400\n")
    few, many = "german-mlp@few.toml", "german-mlp@many.toml"
    out = tmp_path / "job"
    result = CliRunner().invoke(app, ["run-many", "--model", f"{few},{many}", "--suite", "accuracy",
                                      "--config", str(tmp_path / "base.toml"), "--out", str(out)])
    assert result.exit_code in (0, 1), result.output
    board = json.loads((out / "leaderboard.json").read_text())
    assert [e["model"] for e in board["entries"]] == [few, many]
    resamples = []
    for entry in board["entries"]:
        card = json.loads((Path(entry["run_dir"]) / "scorecard.json").read_text())
        assert card["run"]["model"] == "german-mlp" and card["run"]["seed"] == 3  # --config still applies
        resamples.append(card["results"][0]["params"]["bootstrap_resamples"])
        accuracy = next(m for m in card["results"][0]["measurements"] if m["name"] == "accuracy")
        assert entry["cells"][0]["ci"] == accuracy["ci"]
    assert resamples == [100, 400]
    assert board["entries"][0]["cells"][0]["ci"] != board["entries"][1]["cells"][0]["ci"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["01-german-mlp_few", "02-german-mlp_many"]
    markdown = (out / "leaderboard.md").read_text()
    assert "| german-mlp&#64;few.toml |" in markdown and "| german-mlp&#64;many.toml |" in markdown  # @: no autolink


def test_model_entries_parse_configs_and_refuse_repeats(tmp_path: Path) -> None:
    from audit.errors import AuditInputError
    from audit.run_many import ManyEntry, parse_models

    assert parse_models("a@x.toml, b, c@d.pt") == (ManyEntry("a", Path("x.toml")), ManyEntry("b"), ManyEntry("c@d.pt"))
    assert parse_models("a@x.toml,a@y.toml")[1].label == "a@y.toml"
    with pytest.raises(AuditInputError, match="names 'a@x.toml' twice"):
        parse_models("a@x.toml,b,a@x.toml")


def test_an_entry_config_may_not_move_the_job_to_another_executor(tmp_path: Path) -> None:
    (tmp_path / "ray.toml").write_text('executor = "ray"\n')
    result = CliRunner().invoke(app, ["run-many", "--model", f"german-mlp,german-mlp@{tmp_path / 'ray.toml'}",
                                      "--suite", "accuracy", "--out", str(tmp_path / "job")])
    assert result.exit_code == 2 and "apply to the whole job" in " ".join(result.output.split())
    assert not (tmp_path / "job").exists()
