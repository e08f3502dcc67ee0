"""scorecard.json: stable bytes, exact round-trip, atomic writes, clear errors on bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest

from audit.errors import AuditInputError
from audit.reports import FILE_NAMES, FORMATS, load_scorecard, render, write_json, write_reports
from audit.types import Measurement


def test_round_trip_is_exact(scorecard, hostile_scorecard, tmp_path: Path) -> None:
    for original in (scorecard, hostile_scorecard):
        path = write_json(original, tmp_path / "scorecard.json")
        assert load_scorecard(path) == original
        assert render(load_scorecard(path), "json") == render(original, "json")


def test_json_is_sorted_indented_and_newline_terminated(scorecard) -> None:
    text = render(scorecard, "json")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_non_finite_values_survive(scorecard, tmp_path: Path) -> None:
    nan = Measurement("odd", float("nan"), (float("-inf"), float("inf")))
    result = dataclasses.replace(scorecard.results[0], measurements=(nan,))
    card = dataclasses.replace(scorecard, results=(result,))
    path = write_json(card, tmp_path / "s.json")
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()  # strict JSON for jq & co.
    loaded = load_scorecard(path).results[0].measurements[0]
    assert math.isnan(loaded.value) and all(math.isnan(b) for b in loaded.ci)
    assert "| odd | n/a | [−∞, ∞] |" in render(card, "md")


def test_atomic_write_leaves_no_partial_file(scorecard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(scorecard, tmp_path / "scorecard.json")
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        write_json(dataclasses.replace(scorecard, complete=False), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecard.json"]


def test_write_reports_writes_every_format(scorecard, tmp_path: Path) -> None:
    paths = write_reports(scorecard, tmp_path / "out")
    assert set(paths) == set(FORMATS)
    for fmt, path in paths.items():
        assert path.name == FILE_NAMES[fmt] and path.read_text(encoding="utf-8") == render(scorecard, fmt)


def test_unknown_format_is_an_input_error(scorecard, tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="unknown report format 'pdf'"):
        write_reports(scorecard, tmp_path, formats=("md", "pdf"))
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(AuditInputError):
        render(scorecard, "xml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an audit scorecard"),
        ('{"schema_version": "2.0"}', "schema_version '2.0'"),
        ('{"schema_version": 1}', "schema_version 1"),
        ('{"schema_version": "1.0", "run": {}}', "malformed scorecard"),
    ],
)
def test_bad_files_are_input_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "scorecard.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AuditInputError, match=message):
        load_scorecard(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="cannot read scorecard"):
        load_scorecard(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["results"][0]["measurements"][0].update(n="<b>"), r"measurements\[0\]\.n should be of type int"),
        (lambda d: d["checks"][0].update(ci=["low", 0.2]), r"checks\[0\]\.ci\[0\] should be of type float"),
        (lambda d: d["checks"][0].update(verdict="great"), r"checks\[0\]\.verdict should be one of"),
        (lambda d: d["checks"][0].update(ci=[0.1, 0.2, 0.3]), r"checks\[0\]\.ci should be an array of 2 items"),
        (lambda d: d["provenance"].pop("torch"), r"provenance\.torch is missing"),
        (lambda d: d["run"].update(seed=True), r"run\.seed should be of type int"),
        (lambda d: d["results"][1].update(notes="one note"), r"results\[1\]\.notes should be an array"),
    ],
)
def test_wrongly_typed_fields_are_input_errors(scorecard, tmp_path: Path, edit, message: str) -> None:
    data = json.loads(render(scorecard, "json"))
    edit(data)
    path = tmp_path / "scorecard.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AuditInputError, match=message):
        load_scorecard(path)
