"""Fuzzed CSV files and config tables through the real `audit run` entry point: never exit 3 (an internal error).

Bad input must end in exit 2 with one message; input that happens to be valid runs a tiny audit (exit 0 or 1).
The runs are in-process (typer's CliRunner) on a 2-input linear model so that CI stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audit import cli
from audit.config import SYSTEM_FIELDS, AuditConfig
from audit.testing import export_tiny_classifier

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = "[suites.accuracy]\nbootstrap_resamples = 20\n"  # valid examples run a real, small audit
GOOD_CSV = "a,b,y,g\n" + "".join(f"{i / 10},{(-1) ** i},{i % 2},{'FM'[i % 3 % 2]}\n" for i in range(-20, 20))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    export_tiny_classifier(root / "model.pt2", n_features=2)
    (root / "good.csv").write_text(GOOD_CSV)
    (root / "fast.toml").write_text(FAST)
    return root


def run_in_fresh_folder(base: Path, files: dict[str, bytes], *args: str) -> None:
    """Run `audit run ARGS` in a new empty folder holding `files`; fail on exit 3 or a traceback."""
    folder = Path(tempfile.mkdtemp(dir=base))
    for name, content in files.items():
        (folder / name).write_bytes(content)
    with contextlib.chdir(folder):
        result = CliRunner().invoke(cli.app, ["run", *args])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output, result.output
    if result.exit_code == 2:
        assert result.output.count("audit: error:") == 1, result.output


# ---- CSV contents -------------------------------------------------------------------------------------

ODD_CELLS = st.sampled_from(
    ["", " ", "nan", "NaN", "inf", "-inf", "1e300", "-1e39", "1e-320", "0", "1", "-0", "0x1F", "1_000", "TRUE",
     "null", "yes", "\x1b[2J", '"', '""', "a,b", "\u202e", "1.5", "é", "\x00", "9" * 40]
)
NUMBERS = st.one_of(st.integers(-3, 3).map(str), st.floats(-5, 5).map(repr))
CELLS = st.one_of(NUMBERS, NUMBERS, NUMBERS, ODD_CELLS, st.floats().map(repr), st.text(max_size=6))
HEADER_NAMES = st.one_of(st.sampled_from(["a", "b", "y", "g", "", "a", "Unnamed: 0", "\x1b[31mred", "y "]),
                         st.text(max_size=6))


def _csv_line(cells: list[str]) -> str:
    return ",".join(cells) + "\n"


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "table", "ragged", "mutated", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "mutated":  # a valid file with a few cells changed: reaches the model and the suites
        rows = [line.split(",") for line in GOOD_CSV.splitlines()]
        for _ in range(draw(st.integers(0, 3))):
            row = draw(st.integers(0, len(rows) - 1))
            rows[row][draw(st.integers(0, 3))] = draw(CELLS)
        return "".join(_csv_line(r) for r in rows).encode()
    header = draw(st.lists(HEADER_NAMES, min_size=1, max_size=5))
    if draw(st.booleans()):
        header = ["a", "b", "y", *header[:2]]  # often close enough to valid to reach the model
    width = len(header)
    lengths = st.integers(0, width + 2) if kind == "ragged" else st.just(width)
    rows = draw(st.lists(lengths.flatmap(lambda n: st.lists(CELLS, min_size=n, max_size=n)), max_size=40))
    text = _csv_line(header) + "".join(_csv_line(r) for r in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace")


@FUZZ
@given(content=csv_files(), sensitive=st.sampled_from([None, "g", "y", "a", "missing"]),
       train=st.booleans(), suffix=st.sampled_from([".csv", ".csv", ".csv", ".parquet", ".csv.gz"]))
def test_fuzzed_csv_never_exits_3(base: Path, content: bytes, sensitive: str | None, train: bool,
                                  suffix: str) -> None:
    name = f"data{suffix}"
    if suffix == ".csv.gz" and content[:1] != b"\x1f":
        content = gzip.compress(content, mtime=0)
    args = ["--suite", "accuracy", "--model", str(base / "model.pt2"), "--data", name, "--label", "y",
            "--config", str(base / "fast.toml"), "--out", "out"]
    if sensitive:
        args += ["--sensitive", sensitive]
    files = {name: content}
    if train:  # the fuzzed file as the training rows of a good audited file
        files["good.csv"] = GOOD_CSV.encode()
        args[args.index("--data") + 1] = "good.csv"
        args += ["--train-data", name]
    run_in_fresh_folder(base, files, *args)


# ---- config tables -----------------------------------------------------------------------------------

SCALARS = st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(),
                    st.text(max_size=12), st.sampled_from([2**64, -1, 0, 1, "", "false", "no", "0"]))
TOML_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
PLAUSIBLE = {
    "suite": st.sampled_from(["accuracy", "acuracy", "accuracy,", ",", "accuracy,nope"]),
    "seed": st.integers(-5, 2**70),
    "device": st.sampled_from(["auto", "cpu", "cuda", "tpu"]),
    "gate_on": st.sampled_from(["value", "ci", "mean"]),
    "sensitive": st.sampled_from(["g", ["g"], ["g", "g"], "a", ["nope"], "", []]),
    "features": st.sampled_from(["a,b", ["a", "b"], ["b", "a"], ["a"], ["g"], ["y"], [], "a,b,a"]),
    "label": st.sampled_from(["y", "g", "a", "nope"]),
    "missing_group": st.booleans(),
    "default_policy": st.booleans(),
    "allow_unsafe_load": st.booleans(),
    "arch_kwargs": st.dictionaries(st.sampled_from(["hidden", "n_classes", "x"]), SCALARS, max_size=2),
    "policy": st.dictionaries(
        st.sampled_from(["accuracy.accuracy", "accuracy.*", "*", "fairness.dp_difference[*]", "nope.x"]),
        st.dictionaries(st.sampled_from(["min", "max", "on", "severity", "off", "x"]),
                        st.one_of(SCALARS, st.sampled_from(["ci", "value", "warn", "fail"])), max_size=3),
        max_size=3),
    "suites": st.dictionaries(
        st.sampled_from(["accuracy", "fairness", "nope"]),
        st.dictionaries(st.sampled_from(["bootstrap_resamples", "calibration_bins", "min_rows", "nope"]),
                        st.one_of(SCALARS, st.integers(-2, 50)), max_size=3),
        max_size=2),
}
NAMES = {f.name for f in dataclasses.fields(AuditConfig)} - SYSTEM_FIELDS - {"out"}  # new settings join by themselves
KEYS = sorted(NAMES | {n.replace("_", "-") for n in NAMES} | set(SYSTEM_FIELDS) | {"unknown_key"})


def _toml_string(text: str) -> str:
    # JSON escapes are TOML escapes, apart from DEL, which TOML wants escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def config_tables(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True))
    table = {}
    for key in keys:
        plausible = PLAUSIBLE.get(key.replace("-", "_"))
        likely = plausible is not None and draw(st.integers(0, 3)) > 0  # mostly plausible, to get past validation
        table[key] = draw(plausible if likely else TOML_VALUES)
    return table


@FUZZ
@given(table=config_tables(), where=st.sampled_from(["config", "pyproject"]))
def test_fuzzed_config_never_exits_3(base: Path, table: dict[str, Any], where: str) -> None:
    settings_text = "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in table.items())
    run = {"model": str(base / "model.pt2"), "data": "good.csv", "label": "y", "suite": "accuracy", "sensitive": "g"}
    defaults = "".join(f"{k} = {_toml_string(v)}\n" for k, v in run.items() if k not in table)
    fast = "" if "suites" in table else FAST  # a second [suites] table would be a TOML error
    files = {"good.csv": GOOD_CSV.encode()}
    if where == "config":
        files["audit.toml"] = (defaults + settings_text + fast).encode()
    else:
        files["pyproject.toml"] = ("[tool.audit]\n" + defaults + settings_text
                                   + fast.replace("[suites", "[tool.audit.suites")).encode()
    args = ["--config", "audit.toml"] if where == "config" else []
    run_in_fresh_folder(base, files, *args, "--out", "out")
