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

    The text is exactly `json.dumps(whole, sort_keys=True, indent=2, ...)`, built from parts: each top-level value
    dumped on its own and each suite result's text kept while it is in the scorecard (the runner rewrites
    scorecard.json after every suite with the same results plus one, and json's indented encoder is pure Python).
    """
    data = to_json_dict(dataclasses.replace(scorecard, results=()))
    data.pop("results", None)
    parts = {key: _nested(_dumps(value), 1) for key, value in data.items()}
    parts["results"] = _results_text(scorecard.results)
    body = ",\n  ".join(f"{_dumps(key)}: {parts[key]}" for key in sorted(parts))
    return "{\n  " + body + "\n}\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)


def _nested(text: str, depth: int) -> str:
    """`text` (an indented dump at depth 0) as json.dumps writes it `depth` levels down: continuation lines
    indented by two spaces per level (string values never hold a raw newline, so every newline is structure)."""
    return text.replace("\n", "\n" + "  " * depth)


# The runner rewrites scorecard.json after every suite with the same (frozen) results plus one: each result's JSON
# text is kept while it is in the scorecard, keyed by identity (the result itself is held, so its id stays its own).
_RESULT_JSON: dict[int, tuple[SuiteResult, str]] = {}


def _results_text(results: tuple[SuiteResult, ...]) -> str:
    global _RESULT_JSON
    if not results:
        return "[]"
    kept = {}
    for r in results:
        known = _RESULT_JSON.get(id(r))
        kept[id(r)] = known if known is not None and known[0] is r else (r, _nested(_dumps(to_json_dict(r)), 2))
    _RESULT_JSON = kept
    return "[\n    " + ",\n    ".join(kept[id(r)][1] for r in results) + "\n  ]"


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
