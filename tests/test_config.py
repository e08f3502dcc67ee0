"""Config precedence (CLI > --config > pyproject) and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.config import load_config
from audit.errors import AuditInputError


def test_precedence(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.audit]\nseed = 1\nsuite = "quick"\n[tool.audit.policy]\n"accuracy.accuracy" = { min = 0.6 }\n'
        '"accuracy.macro_f1" = { min = 0.5 }\n'
    )
    cfg_file = tmp_path / "audit.toml"
    cfg_file.write_text('seed = 2\n[policy]\n"accuracy.accuracy" = { min = 0.7, on = "ci" }\n')
    cfg = load_config({"seed": 3, "suite": None}, cfg_file, tmp_path)
    assert cfg.seed == 3 and cfg.suite == "quick"
    assert cfg.policy["accuracy.accuracy"] == {"min": 0.7, "on": "ci"}
    assert cfg.policy["accuracy.macro_f1"] == {"min": 0.5}
    policy = cfg.build_policy()
    assert policy.match("accuracy.accuracy").on == "ci"


def test_defaults_without_any_source(tmp_path: Path) -> None:
    cfg = load_config({}, None, tmp_path)
    assert cfg.model == "adult-mlp" and cfg.suite == "full" and cfg.seed == 0


@pytest.mark.parametrize(
    "cli, message",
    [
        ({"device": "tpu"}, "device must be"),
        ({"gate_on": "mean"}, "gate_on"),
        ({"seed": -1}, "seed"),
        ({"data": "d.csv"}, "--label"),
        ({"arch_kwargs": "{bad"}, "not valid JSON"),
    ],
)
def test_bad_values(tmp_path: Path, cli: dict, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        load_config(cli, None, tmp_path)


def test_unknown_key_suggests(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.audit]\nsed = 1\n")
    with pytest.raises(AuditInputError, match="did you mean 'seed'"):
        load_config({}, None, tmp_path)


def test_missing_and_invalid_config_file(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="does not exist"):
        load_config({}, tmp_path / "nope.toml", tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1")
    with pytest.raises(AuditInputError, match="not valid TOML"):
        load_config({}, bad, tmp_path)
