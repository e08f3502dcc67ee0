"""Policies: thresholds for gating. Defaults ship as one TOML file per suite in this folder."""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from audit.errors import AuditInputError
from audit.types import Threshold

_BOUND_KEYS = {"min", "max", "on", "severity", "off"}


@dataclass(frozen=True)
class Policy:
    thresholds: tuple[Threshold, ...]

    def match(self, key: str) -> Threshold | None:
        """The most specific threshold whose pattern matches `key` ("suite.metric[...]")."""
        hits = [t for t in self.thresholds if _pattern(t.metric).fullmatch(key)]
        return max(hits, key=_specificity) if hits else None


@functools.cache  # matched against every measurement after every suite: compile each pattern once
def _pattern(metric: str) -> re.Pattern[str]:
    # Only `*` is a wildcard: measurement names use literal brackets ("dp_difference[sex]").
    return re.compile(".*".join(re.escape(part) for part in metric.split("*")))


def _specificity(t: Threshold) -> tuple[int, int]:
    return (-t.metric.count("*"), len(t.metric))


def parse_thresholds(table: Mapping[str, Any], default_on: str, origin: str) -> dict[str, Threshold | None]:
    """`{"suite.metric": {min=, max=, on=, severity=}}` -> thresholds; `{off = true}` disables a default."""
    parsed: dict[str, Threshold | None] = {}
    for metric, spec in table.items():
        if not isinstance(spec, Mapping):
            raise AuditInputError(f"{origin}: policy entry {metric!r} must be a table like {{ min = 0.8 }}")
        unknown = set(spec) - _BOUND_KEYS
        if unknown:
            raise AuditInputError(
                f"{origin}: policy entry {metric!r} has unknown key(s) {sorted(unknown)}; "
                "use min, max, on, severity or off"
            )
        off = spec.get("off", False)
        if not isinstance(off, bool):  # a quoted "false" must not switch a gate off
            raise AuditInputError(f"{origin}: policy entry {metric!r}: off must be true or false (unquoted), "
                                  f"got {off!r}")
        parsed[metric] = None if off else _threshold(metric, spec, default_on, origin)
    return parsed


def _threshold(metric: str, spec: Mapping[str, Any], default_on: str, origin: str) -> Threshold:
    lo, hi = spec.get("min"), spec.get("max")
    if lo is None and hi is None:
        raise AuditInputError(f"{origin}: policy entry {metric!r} needs min or max (or off = true)")
    for bound in (lo, hi):
        if bound is not None and not _finite_number(bound):
            raise AuditInputError(f"{origin}: policy entry {metric!r}: bounds must be finite numbers, got {bound!r}")
    on = spec.get("on", default_on)
    if on not in ("value", "ci"):
        raise AuditInputError(f'{origin}: policy entry {metric!r}: on must be "value" or "ci", got {on!r}')
    severity = spec.get("severity", "fail")
    if severity not in ("fail", "warn"):
        raise AuditInputError(f'{origin}: policy entry {metric!r}: severity must be "fail" or "warn", got {severity!r}')
    return Threshold(metric, None if lo is None else float(lo), None if hi is None else float(hi), on, severity)


def _finite_number(value: Any) -> bool:
    """A finite int or float: TOML `true` is not a number, nor an integer beyond the range of a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def default_thresholds(default_on: str) -> dict[str, Threshold | None]:
    """Every bundled `audit/policy/*.toml`, merged (file names are suite names, so keys never clash)."""
    merged: dict[str, Threshold | None] = {}
    for entry in sorted(resources.files("audit.policy").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            table = tomllib.loads(entry.read_text())
            merged.update(parse_thresholds(table, default_on, f"default policy {entry.name}"))
    return merged


def build_policy(user: Iterable[tuple[str, Threshold | None]], default_on: str, use_defaults: bool = True) -> Policy:
    merged = default_thresholds(default_on) if use_defaults else {}
    merged.update(dict(user))
    return Policy(tuple(t for t in merged.values() if t is not None))
