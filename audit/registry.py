"""Suites found through the "audit.suites" entry-point group (built-ins register the same way)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from audit.config import did_you_mean
from audit.errors import AuditInputError
from audit.suite import PRESETS, Suite

GROUP = "audit.suites"
# Fairness runs before explainability, which reads the proxies it found.
_BUILT_IN_ORDER = ("accuracy", "fairness", "robustness", "privacy", "explainability", "efficiency")


@dataclass(frozen=True)
class SuiteEntry:
    name: str
    entry_point: EntryPoint

    def load(self) -> Suite:
        return self.entry_point.load()()


def available() -> dict[str, SuiteEntry]:
    """All registered suites in run order: built-ins first, then others by name."""
    found = {ep.name: SuiteEntry(ep.name, ep) for ep in entry_points(group=GROUP)}
    order = [n for n in _BUILT_IN_ORDER if n in found] + sorted(n for n in found if n not in _BUILT_IN_ORDER)
    return {n: found[n] for n in order}


def resolve(selection: str) -> tuple[str, list[SuiteEntry]]:
    """`full` | `quick` | "a,b" -> (preset, suites). A comma list runs at full settings."""
    suites = available()
    if selection in PRESETS:
        return selection, list(suites.values())
    names = [s.strip() for s in selection.split(",") if s.strip()]
    if not names:
        raise AuditInputError("--suite is empty; use full, quick or a comma list of suite names")
    unknown = [n for n in names if n not in suites]
    if unknown:
        raise AuditInputError(
            f"unknown suite {unknown[0]!r}{did_you_mean(unknown[0], [*PRESETS, *suites])}"
        )
    ordered = [suites[n] for n in suites if n in names]
    return "full", ordered


def apply_overrides(suite_name: str, params: Any, overrides: Mapping[str, Any]) -> Any:
    """User settings from [tool.audit.suites.<name>] onto the suite's frozen Params, type-checked."""
    if not overrides:
        return params
    hints = typing.get_type_hints(type(params))
    names = [f.name for f in dataclasses.fields(params)]
    changes = {}
    for key, value in overrides.items():
        if key not in hints:
            raise AuditInputError(f"suite {suite_name!r} has no setting {key!r}{did_you_mean(key, names)}")
        changes[key] = _coerce(suite_name, key, hints[key], value)
    return dataclasses.replace(params, **changes)


def _coerce(suite: str, key: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = origin or hint
    if isinstance(expected, type) and not isinstance(value, expected):
        raise AuditInputError(
            f"suite {suite!r} setting {key!r} must be {getattr(expected, '__name__', expected)}, got {value!r}"
        )
    return value
