"""scorecard.json: stable serialisation, atomic writes, validated loading."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from audit.errors import AuditInputError
from audit.reports.validate import check_types
from audit.types import SCHEMA_VERSION, Scorecard, SuiteResult, from_json_dict, to_json_dict


def render_json(scorecard: Scorecard) -> str:
    """Sorted keys, two-space indent, trailing newline: the same scorecard always gives the same bytes.

    Non-finite floats become null (strict JSON), see docs/scorecard-schema.md.
    """
    data = to_json_dict(dataclasses.replace(scorecard, results=()))
    data["results"] = _results_json(scorecard.results)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# The runner rewrites scorecard.json after every suite with the same (frozen) results plus one: each result's JSON
# form is kept while it is in the scorecard, keyed by identity (the result itself is held, so its id stays its own).
_RESULT_JSON: dict[int, tuple[SuiteResult, Any]] = {}


def _results_json(results: tuple[SuiteResult, ...]) -> list[Any]:
    global _RESULT_JSON
    kept = {}
    for r in results:
        known = _RESULT_JSON.get(id(r))
        kept[id(r)] = known if known is not None and known[0] is r else (r, to_json_dict(r))
    _RESULT_JSON = kept
    return [kept[id(r)][1] for r in results]


def atomic_write_text(path: Path, text: str) -> Path:
    """Write to a temporary file beside `path`, then os.replace: readers never see half a file."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="replace"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """`atomic_write_text` for bytes (PDF, zip): a temporary file beside `path`, fsynced, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; reports are meant to be read by CI and reviewers
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_json(scorecard: Scorecard, path: Path) -> Path:
    """Atomically (re)write scorecard.json; the runner calls this after every suite."""
    return atomic_write_text(Path(path), render_json(scorecard))


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def load_scorecard(path: Path) -> Scorecard:
    """Read a scorecard.json written by this or a compatible (same major schema version) release."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditInputError(f"cannot read scorecard {path}: {exc.strerror or exc}. Pass the path of a "
                              "scorecard.json written by `audit run`.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuditInputError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
                              "Re-run `audit run` to regenerate it.") from exc
    if not isinstance(data, dict) or "schema_version" not in data:
        raise AuditInputError(f"{path} is not an audit scorecard (no schema_version field). "
                              "Pass the scorecard.json written by `audit run`.")
    version = data["schema_version"]
    if not isinstance(version, str) or _major(version) != _major(SCHEMA_VERSION):
        raise AuditInputError(f"{path} has scorecard schema_version {version!r}, but this audit release reads "
                              f"version {SCHEMA_VERSION} (any {_major(SCHEMA_VERSION)}.x). Use the audit release "
                              "that wrote it, or re-run the audit.")
    try:
        check_types(Scorecard, data)
        return from_json_dict(Scorecard, data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise AuditInputError(f"{path} is a malformed scorecard ({type(exc).__name__}: {exc}). "
                              "Re-run `audit run` to regenerate it.") from exc
