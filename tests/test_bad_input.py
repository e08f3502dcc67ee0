"""Bad input sent the way a user (or an attacker) sends it: files in a folder, flags on the command line.

Every case must end with exit code 2 and one `audit: error:` message, no traceback (exit 3 is a bug).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from audit import cli
from audit.testing import export_tiny_classifier


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_classifier(tmp_path_factory.mktemp("model") / "model.pt2", n_features=2)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the current directory (its pyproject.toml is the audited repository's)."""
    monkeypatch.chdir(tmp_path)
    good = pd.DataFrame({"a": np.linspace(-1, 1, 40), "b": np.tile([0.5, -0.5], 20), "y": np.tile([0, 1], 20)})
    good.to_csv(tmp_path / "good.csv", index=False)
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli.app, ["run", *args])


def user_run(model_file: Path, data: str = "good.csv", *extra: str) -> Result:
    return invoke("--suite", "accuracy", "--model", str(model_file), "--data", data, "--label", "y", *extra)


def assert_input_error(result: Result, *fragments: str) -> str:
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output and output.count("audit: error:") == 1, output
    flat = " ".join(output.split())  # rich wraps long messages at the terminal width
    for fragment in fragments:
        assert fragment in flat, (fragment, output)
    return flat


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "is empty"),
        (b"a,b,y\n", "has a header but no data rows"),
        (b"a,b,y\n1,2,0\n3,4,1,9\n", "not a well-formed CSV"),
        (b"a,b,y\n1,2,\xff\n3,4,1\n", "not UTF-8 text"),
        (bytes(range(256)) * 4, "binary data"),
        (b"a,b,y\n1,2,0\n3,\n", "missing values"),
        (b"a,b,y\n1,inf,0\n3,4,1\n", "column 'b'"),
        (b"a,b,y\n1e300,2,0\n3,4,1\n", "data row 1"),
    ],
)
def test_bad_data_files(workdir: Path, model_file: Path, content: bytes, fragment: str) -> None:
    (workdir / "bad.csv").write_bytes(content)
    assert_input_error(user_run(model_file, "bad.csv"), fragment)


def test_text_labels_with_numeric_training_labels(workdir: Path, model_file: Path) -> None:
    frame = pd.read_csv(workdir / "good.csv")
    frame.assign(y=np.where(frame["y"] == 1, "yes", "no")).to_csv(workdir / "text.csv", index=False)
    assert_input_error(user_run(model_file, "text.csv", "--train-data", "good.csv"),
                       "holds text in 'text.csv' but numbers in 'good.csv'")


def test_text_sensitive_column_the_model_expects(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The model takes three inputs; `sex` is text, so it was silently dropped and the model failed with a hint
    about --features only. The message must name the column and say why it was left out."""
    model3 = export_tiny_classifier(tmp_path_factory.mktemp("m3") / "three.pt2", n_features=3)
    frame = pd.read_csv(workdir / "good.csv").assign(sex=np.tile(["Female", "Male"], 20))
    frame.to_csv(workdir / "sex.csv", index=False)
    flat = assert_input_error(user_run(model3, "sex.csv", "--sensitive", "sex"), "['sex'] were left out of the model")
    assert "text values" in flat and "as numbers" in flat


@pytest.mark.parametrize(
    "config, fragment",
    [
        ('policy = "x"', "setting 'policy' must be a table of tables"),
        ("suite = 5", "setting 'suite' must be a string, got 5"),
        ("sensitive = 5", "setting 'sensitive' must be a list of strings"),
        ("[suites]\naccuracy = 5", "setting 'suites.accuracy' must be a table"),
        ("seed = 18446744073709551616", "seed must be an integer from 0 to 4294967295"),
        ('allow_unsafe_load = "false"', "setting 'allow_unsafe_load' must be a boolean"),
        ('missing_group = "no"', "setting 'missing_group' must be a boolean"),
        ("arch_kwargs = [1]", "setting 'arch_kwargs' must be a table"),
        ('[policy]\n"accuracy.accuracy" = { min = true }', "bounds must be finite numbers"),
    ],
)
def test_config_values_of_the_wrong_type(workdir: Path, model_file: Path, config: str, fragment: str) -> None:
    (workdir / "audit.toml").write_text(config + "\n")
    assert_input_error(user_run(model_file, "good.csv", "--config", "audit.toml"), fragment, "audit.toml")


def test_suite_setting_of_the_wrong_type(workdir: Path, model_file: Path) -> None:
    (workdir / "audit.toml").write_text('[suites.accuracy]\nbootstrap_resamples = "10"\n')
    assert_input_error(user_run(model_file, "good.csv", "--config", "audit.toml"), "'bootstrap_resamples'")


def test_unsafe_switch_in_the_audited_pyproject_is_refused(workdir: Path, model_file: Path) -> None:
    (workdir / "pyproject.toml").write_text("[tool.audit]\nallow_unsafe_load = true\n")
    assert_input_error(user_run(model_file), "never read from the audited project's pyproject.toml",
                       "--allow-unsafe-load")


def test_arch_kwargs_nested_thousands_deep(workdir: Path, model_file: Path) -> None:
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    assert_input_error(user_run(model_file, "good.csv", "--arch-kwargs", deep), "nests deeper than")


@pytest.fixture
def model_never_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The output folder must be checked before any model is loaded (not after the audit ran)."""
    from audit import session

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(session, "load_model_and_data", refuse)


def test_out_naming_an_existing_file(workdir: Path, model_file: Path, model_never_loads: None) -> None:
    (workdir / "report.txt").write_text("precious")
    assert_input_error(user_run(model_file, "good.csv", "--out", "report.txt"), "is an existing file, not a folder")
    assert (workdir / "report.txt").read_text() == "precious"


def test_out_below_a_file(workdir: Path, model_file: Path, model_never_loads: None) -> None:
    (workdir / "report.txt").write_text("x")
    assert_input_error(user_run(model_file, "good.csv", "--out", "report.txt/run"), "cannot write reports to")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_a_read_only_folder(workdir: Path, model_file: Path, model_never_loads: None) -> None:
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert_input_error(user_run(model_file, "good.csv", "--out", "locked/run"), "cannot write reports to")
    finally:
        locked.chmod(0o700)


def test_default_out_folder_not_writable(workdir: Path, model_file: Path, model_never_loads: None) -> None:
    (workdir / "reports").write_text("a file where the reports folder goes")
    assert_input_error(user_run(model_file), "'reports' is an existing file")


@pytest.mark.parametrize("flag", ["--model", "--data", "--predictions", "--config"])
@pytest.mark.parametrize("special", ["/dev/null", "fifo"])
def test_a_device_or_pipe_in_place_of_a_file_is_named_as_such_and_never_read(workdir: Path, model_file: Path,
                                                                               flag: str, special: str) -> None:
    """Reading a pipe blocks until someone writes to it, a device may never end: both are refused unread, and the
    message says what the path is instead of claiming it does not exist."""
    path = special
    if special == "fifo":
        os.mkfifo(workdir / "fifo")
        path = str(workdir / "fifo")
    if flag == "--predictions":
        result = invoke("--suite", "accuracy", "--predictions", path, "--label", "y")
    elif flag == "--model":
        result = user_run(Path(path))
    elif flag == "--data":
        result = user_run(model_file, path)
    else:
        result = user_run(model_file, "good.csv", "--config", path)
    assert_input_error(result, "is not a regular file")
