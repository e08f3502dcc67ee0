"""End to end through the `audit` console script on tiny synthetic data and a user model file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from audit.testing import train_classifier

XSS_COLUMN = "<script>alert(1)</script>"
XSS_GROUP = "<img src=x onerror=alert(1)>"


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV with a hostile column name and group value, and a .pt2 model trained on it."""
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), XSS_COLUMN: rng.normal(size=n)})
    frame["y"] = (frame["a"] + 0.5 * frame["b"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame["group"] = np.where(rng.random(n) < 0.5, XSS_GROUP, "plain")
    frame.to_csv(root / "data.csv", index=False)
    x = torch.tensor(frame[["a", "b", XSS_COLUMN]].to_numpy(), dtype=torch.float32)
    model = train_classifier(Net(), x, torch.tensor(frame["y"].to_numpy()), epochs=100)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x[:8],), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, root / "model.pt2")
    return root


def audit_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def user_args(ws: Path, out: str) -> list[str]:
    return ["run", "--suite", "accuracy", "--model", str(ws / "model.pt2"), "--data", str(ws / "data.csv"),
            "--label", "y", "--sensitive", "group", "--out", str(ws / out)]


def test_user_model_end_to_end_writes_all_outputs(workspace: Path) -> None:
    proc = audit_cli(*user_args(workspace, "run1"), cwd=workspace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = workspace / "run1"
    for name in ("scorecard.json", "scorecard.md", "scorecard.html", "junit.xml"):
        assert (out / name).is_file(), name
    card = json.loads((out / "scorecard.json").read_text())
    assert card["complete"] and card["exit_code"] == 0
    assert card["provenance"]["model_sha256"] != "0" * 64
    accuracy = {m["name"]: m for m in card["results"][0]["measurements"]}["accuracy"]
    assert accuracy["value"] > 0.8 and accuracy["ci"][0] < accuracy["value"] < accuracy["ci"][1]


def test_hostile_strings_render_inert(workspace: Path) -> None:
    out = workspace / "run1"
    if not out.exists():
        assert audit_cli(*user_args(workspace, "run1"), cwd=workspace).returncode == 0
    for name in ("scorecard.md", "scorecard.html"):
        text = (out / name).read_text()
        assert "<script>alert" not in text and "<img src=x" not in text, name


def test_same_seed_same_scorecard(workspace: Path) -> None:
    cards = []
    for run in ("det1", "det2"):
        assert audit_cli(*user_args(workspace, run), cwd=workspace).returncode == 0
        card = json.loads((workspace / run / "scorecard.json").read_text())
        card["run"].pop("started_at"), card["run"].pop("finished_at")
        card["config"].pop("out")
        for r in card["results"]:
            r.pop("duration_s")
        cards.append(card)
    assert cards[0] == cards[1]


def test_gate_failure_exits_1(workspace: Path) -> None:
    (workspace / "strict.toml").write_text('[policy]\n"accuracy.accuracy" = { min = 0.999 }\n')
    proc = audit_cli(*user_args(workspace, "strict"), "--config", str(workspace / "strict.toml"), cwd=workspace)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    junit = (workspace / "strict" / "junit.xml").read_text()
    assert "accuracy.accuracy" in junit and "failure" in junit


@pytest.mark.parametrize(
    "change, message",
    [
        (("--label", "nope"), "nope"),
        (("--sensitive", "missing_col"), "missing_col"),
        (("--suite", "acuracy"), "did you mean 'accuracy'"),
        (("--device", "tpu"), "device"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(workspace: Path, change: tuple[str, str], message: str) -> None:
    args = user_args(workspace, "bad")
    flag, value = change
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    proc = audit_cli(*args, cwd=workspace)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_model_exits_2(workspace: Path) -> None:
    proc = audit_cli("run", "--model", "adult-mpl", cwd=workspace)
    assert proc.returncode == 2 and "adult-mlp" in proc.stderr and "Traceback" not in proc.stderr


def test_internal_error_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from audit import cli, session

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(session, "execute", broken)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["run", "--suite", "accuracy"])
    assert result.exit_code == 3


def test_report_rerenders_without_recomputing(workspace: Path) -> None:
    out = workspace / "run1"
    if not out.exists():
        assert audit_cli(*user_args(workspace, "run1"), cwd=workspace).returncode == 0
    target = workspace / "again.md"
    proc = audit_cli("report", str(out / "scorecard.json"), "--format", "md", "--out", str(target), cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == (out / "scorecard.md").read_text()
    bad = audit_cli("report", str(workspace / "data.csv"), "--format", "md", cwd=workspace)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_list_shows_suites_and_zoo(workspace: Path) -> None:
    proc = audit_cli("list", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    for word in ("accuracy", "fairness", "adult-mlp", "mnist-cnn", "adult"):
        assert word in proc.stdout


def test_scorecard_records_what_was_used_and_the_safety_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the config section must show effective inputs (not `sensitive: []`) and the unsafe switch."""
    from audit import cli
    from audit.testing import export_tiny_classifier

    monkeypatch.chdir(tmp_path)
    model = export_tiny_classifier(tmp_path / "tiny.pt2", n_features=2)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "sex": np.tile(["F", "M"], 30)})
    frame["y"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "d.csv", index=False)
    args = ["run", "--suite", "accuracy", "--model", str(model), "--data", "d.csv", "--label", "y",
            "--sensitive", "sex", "--out", "out", "--allow-unsafe-load"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code in (0, 1), result.output
    config = json.loads((tmp_path / "out" / "scorecard.json").read_text())["config"]
    assert config["safety_switches"] == {"allow_unsafe_load": "on (set by the command line)"}
    used = config["used"]
    assert used["features"] == ["a", "b"] and used["sensitive"] == ["sex"] and used["label"] == "y"
    assert used["classes"] == ["0", "1"] and used["rows"]["audited"] == 60 and "sex" in used["left_out_of_features"]
    markdown = (tmp_path / "out" / "scorecard.md").read_text()
    assert "safety\\_switches.allow\\_unsafe\\_load" in markdown and "used.sensitive" in markdown
    assert "suites chosen with --suite" in markdown and "Preset **full**" not in markdown
    html = (tmp_path / "out" / "scorecard.html").read_text()
    assert "suites chosen with --suite" in html
    assert "safety_switches.allow_unsafe_load" in html and "used.sensitive" in html


def test_used_inputs_of_reference_data_name_its_sensitive_attributes() -> None:
    """A zoo run passes no --sensitive; the report must still say which attributes were audited."""
    from audit.config import AuditConfig
    from audit.session import used_inputs
    from audit.testing import synthetic_tabular

    data = synthetic_tabular(n=50)
    used = used_inputs(AuditConfig(), data, {})
    assert AuditConfig().sensitive == () and used["sensitive"] == ["sex", "race"]
    assert used["features"] == list(data.feature_names) and "reference data set" in used["label"]
    assert "safety_switches" not in used and AuditConfig().sha256() == AuditConfig(used=used).sha256()


@pytest.mark.parametrize(("code", "returncode", "stderr"),
                         [(3, 3, ""), (None, 0, ""), ("stopped: why", 1, "stopped: why")])
def test_the_process_ends_at_once_with_its_code_and_its_output_flushed(code: object, returncode: int,
                                                                       stderr: str) -> None:
    """main() skips the interpreter's teardown; what was printed must still arrive, unbuffered or not."""
    script = f"import sys\nfrom audit.cli import _exit_now\nprint('all of it', end='')\n_exit_now({code!r})\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONUNBUFFERED": ""})
    assert (done.returncode, done.stdout, done.stderr.strip()) == (returncode, "all of it", stderr)
