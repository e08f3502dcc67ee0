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
    with pytest.raises(AuditInputError, match="/dev/null is not a regular file"):  # it exists; reading one could hang
        load_config({}, Path("/dev/null"), tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1")
    with pytest.raises(AuditInputError, match="not valid TOML"):
        load_config({}, bad, tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00seed")
    with pytest.raises(AuditInputError, match="not valid TOML"):
        load_config({}, binary, tmp_path)
    with pytest.raises(AuditInputError, match="is a folder"):
        load_config({}, tmp_path, tmp_path)


def _config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", ['"false"', '"no"', '"true"', "1", "0"])
def test_unsafe_switch_must_be_a_real_boolean(tmp_path: Path, text: str) -> None:
    """A quoted "false" used to be truthy and turned unsafe loading on."""
    expected = r"'allow_unsafe_load' must be a boolean \(true or false, without quotes\)"
    with pytest.raises(AuditInputError, match=expected):
        load_config({}, _config_file(tmp_path, f"allow_unsafe_load = {text}\n"), tmp_path)


@pytest.mark.parametrize("key", ["missing_group", "default_policy", "missing-group"])
def test_every_boolean_setting_is_strict(tmp_path: Path, key: str) -> None:
    with pytest.raises(AuditInputError, match="must be a boolean"):
        load_config({}, _config_file(tmp_path, f'{key} = "false"\n'), tmp_path)


def test_policy_off_must_be_a_boolean(tmp_path: Path) -> None:
    """`off = "false"` would switch a default gate off."""
    path = _config_file(tmp_path, '[policy]\n"accuracy.accuracy" = { off = "false" }\n')
    with pytest.raises(AuditInputError, match="off must be true or false"):
        load_config({}, path, tmp_path)


@pytest.mark.parametrize("value", ["true", "false"])
def test_unsafe_switch_is_never_read_from_the_project_pyproject(tmp_path: Path, value: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.audit]\nallow_unsafe_load = {value}\n")
    with pytest.raises(AuditInputError, match=r"never read from the audited project's pyproject.toml.*--config"):
        load_config({}, None, tmp_path)


def test_unsafe_switch_from_flag_or_config_is_recorded(tmp_path: Path) -> None:
    assert load_config({}, None, tmp_path).safety_switches == {}
    from_flag = load_config({"allow_unsafe_load": True}, None, tmp_path)
    assert from_flag.allow_unsafe_load is True
    assert from_flag.safety_switches == {"allow_unsafe_load": "on (set by the command line)"}
    path = _config_file(tmp_path, "allow_unsafe_load = true\n")
    from_file = load_config({}, path, tmp_path)
    assert from_file.safety_switches == {"allow_unsafe_load": f"on (set by {path})"}
    assert from_file.to_dict()["safety_switches"]["allow_unsafe_load"].startswith("on")
    assert load_config({}, _config_file(tmp_path, "allow_unsafe_load = false\n"), tmp_path).safety_switches == {}


def test_recorded_fields_cannot_be_set_by_the_user(tmp_path: Path) -> None:
    for key in ("safety_switches", "used"):
        with pytest.raises(AuditInputError, match="unknown setting"):
            load_config({}, _config_file(tmp_path, f"[{key}]\nallow_unsafe_load = 'off'\n"), tmp_path)


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ('policy = "x"', "'policy'", "a table of tables"),
        ("suite = 5", "'suite'", "a string"),
        ("sensitive = 5", "'sensitive'", "a list of strings"),
        ('sensitive = ["sex", 2]', "'sensitive'", "a list of strings"),
        ("features = [1.5]", "'features'", "a list of strings"),
        ("[suites]\naccuracy = 5", "'suites.accuracy'", "a table"),
        ('[policy]\n"accuracy.accuracy" = 0.7', "'policy.accuracy.accuracy'", "a table"),
        ("model = 1", "'model'", "a string"),
        ("data = true", "'data'", "a string"),
        ("label = []", "'label'", "a string"),
        ("train_data = 2", "'train_data'", "a string"),
        ("arch = {}", "'arch'", "a string"),
        ("arch_kwargs = 5", "'arch_kwargs'", "a table"),
        ("arch_kwargs = {when = 1979-05-27}", "'arch_kwargs.when'", "a string, number, boolean, array or table"),
        ("arch_kwargs = {x = nan}", "'arch_kwargs.x'", "a string, number, boolean, array or table"),
        ('device = ["cpu"]', "'device'", "a string"),
        ('seed = "1"', "'seed'", "an integer"),
        ("seed = 1.0", "'seed'", "an integer"),
        ("seed = true", "'seed'", "an integer"),
        ("out = 3", "'out'", "a string"),
        ("gate_on = false", "'gate_on'", "a string"),
    ],
)
def test_wrong_types_name_key_type_and_value(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = _config_file(tmp_path, text + "\n")
    with pytest.raises(AuditInputError, match="must be") as info:
        load_config({}, path, tmp_path)
    message = str(info.value)
    assert str(path) in message and f"setting {key}" in message and expected in message and "got " in message


@pytest.mark.parametrize("seed", [2**32, 2**64, 2**64 + 1, 2**70])
def test_seed_beyond_range_is_refused(tmp_path: Path, seed: int) -> None:
    with pytest.raises(AuditInputError, match="seed must be an integer from 0 to 4294967295"):
        load_config({}, _config_file(tmp_path, f"seed = {seed}\n"), tmp_path)
    with pytest.raises(AuditInputError, match="the command line: seed"):
        load_config({"seed": seed}, None, tmp_path)


def test_empty_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="'model' is empty"):
        load_config({}, _config_file(tmp_path, 'model = ""\n'), tmp_path)


def test_tool_that_is_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('tool = "x"\n')
    with pytest.raises(AuditInputError, match=r"\[tool\] must be a table"):
        load_config({}, None, tmp_path)


def test_deep_merge_keeps_suite_keys_from_every_source(tmp_path: Path) -> None:
    """pyproject sets two keys of the fairness suite, --config overrides one: the other must survive."""
    (tmp_path / "pyproject.toml").write_text(
        "[tool.audit.suites.fairness]\nmin_group_size = 5\nbootstrap_resamples = 7\n"
        '[tool.audit.arch_kwargs]\nhidden = [8]\nextra = { a = 1, b = 2 }\n'
    )
    path = _config_file(tmp_path, "[suites.fairness]\nbootstrap_resamples = 9\n[suites.accuracy]\nmin_rows = 3\n"
                                  "[arch_kwargs.extra]\nb = 3\n")
    cfg = load_config({"arch_kwargs": '{"extra": {"c": 4}}'}, path, tmp_path)
    assert cfg.suites["fairness"] == {"min_group_size": 5, "bootstrap_resamples": 9}
    assert cfg.suites["accuracy"] == {"min_rows": 3}
    assert cfg.arch_kwargs == {"hidden": [8], "extra": {"a": 1, "b": 3, "c": 4}}


def test_arch_kwargs_nested_thousands_deep(tmp_path: Path) -> None:
    """json.loads raised RecursionError (exit 3) on deep nesting."""
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    with pytest.raises(AuditInputError, match="nests deeper than"):
        load_config({"arch_kwargs": deep}, None, tmp_path)
    moderately = '{"a": ' * 40 + "1" + "}" * 40
    with pytest.raises(AuditInputError, match="nests deeper than"):
        load_config({"arch_kwargs": moderately}, None, tmp_path)


def test_toml_nested_too_deep(tmp_path: Path) -> None:
    path = _config_file(tmp_path, "arch_kwargs = { a = " + "[" * 3000 + "]" * 3000 + " }\n")
    with pytest.raises(AuditInputError, match="too deeply|nests deeper"):
        load_config({}, path, tmp_path)
