"""Waivers: `[[tool.audit.waivers]] check, reason, owner, expires = "YYYY-MM-DD"`.

A waiver excuses one blocking check (a failure, insufficient evidence, an incomplete pillar) until it expires:
the check shows as `waived` with its reason and owner, never as a pass, and stops blocking. An expired waiver is
ignored and the check's reason says it expired. `check` is a check key; `*` is the only wildcard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from audit.errors import AuditInputError
from audit.policy import _pattern
from audit.types import Check, Verdict

_KEYS = {"check", "reason", "owner", "expires"}
WAIVABLE = frozenset({Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE, Verdict.UNRELIABLE, Verdict.INCOMPLETE,
                      Verdict.ERROR})


@dataclass(frozen=True)
class Waiver:
    check: str
    reason: str
    owner: str
    expires: dt.date

    def matches(self, key: str) -> bool:
        return _pattern(self.check).fullmatch(key) is not None

    def expired(self, today: dt.date) -> bool:
        return today > self.expires  # valid through the whole of its expiry day


def parse_waivers(entries: Sequence[Mapping[str, Any]], origin: str = "[[tool.audit.waivers]]") -> tuple[Waiver, ...]:
    if not isinstance(entries, (list, tuple)):
        raise AuditInputError(f"{origin} must be an array of tables: [[tool.audit.waivers]] check = ..., reason = ..., "
                              "owner = ..., expires = \"YYYY-MM-DD\"")
    return tuple(_waiver(entry, i, origin) for i, entry in enumerate(entries))


def _waiver(entry: Any, index: int, origin: str) -> Waiver:
    where = f"{origin} entry {index + 1}"
    if not isinstance(entry, Mapping):
        raise AuditInputError(f"{where} must be a table with check, reason, owner and expires")
    unknown, missing = set(entry) - _KEYS, _KEYS - set(entry)
    if unknown or missing:
        problems = [f"unknown key(s) {sorted(unknown)}"] if unknown else []
        problems += [f"missing {sorted(missing)}"] if missing else []
        raise AuditInputError(f"{where}: {'; '.join(problems)}; a waiver needs check, reason, owner and expires")
    for key in ("check", "reason", "owner"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise AuditInputError(f"{where}: {key} must be a non-empty string")
    return Waiver(entry["check"], entry["reason"].strip(), entry["owner"].strip(), _date(entry["expires"], where))


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AuditInputError(f"{where}: expires = {value!r} is not a date; write it as \"YYYY-MM-DD\"") from None


def apply_waivers(checks: Sequence[Check], waivers: Sequence[Waiver], today: dt.date | None = None) -> list[Check]:
    """Each blocking check matched by a waiver: `waived` while it holds; an expired one only annotates the check."""
    today = today or dt.date.today()
    return [_apply(check, waivers, today) for check in checks]


def _apply(check: Check, waivers: Sequence[Waiver], today: dt.date) -> Check:
    if check.verdict not in WAIVABLE:
        return check
    matching = [w for w in waivers if w.matches(check.key)]
    active = [w for w in matching if not w.expired(today)]
    if active:
        w = active[0]
        return dataclasses.replace(check, verdict=Verdict.WAIVED, reason=(
            f"waived until {w.expires.isoformat()} by {w.owner}: {w.reason} "
            f"(was {check.verdict.value}: {check.reason})"))
    if matching:
        w = matching[0]
        return dataclasses.replace(check, reason=(
            f"{check.reason} (the waiver by {w.owner} expired on {w.expires.isoformat()} and was ignored)"))
    return check


def waiver_report(waivers: Sequence[Waiver], checks: Sequence[Check], today: dt.date | None = None) -> list[dict]:
    """Every configured waiver with its state (active, expired, unused) and the checks it touched."""
    today = today or dt.date.today()
    out = []
    for w in waivers:
        touched = [c.key for c in checks if w.matches(c.key)]
        state = "expired" if w.expired(today) else ("active" if touched else "unused")
        out.append({"check": w.check, "reason": w.reason, "owner": w.owner, "expires": w.expires.isoformat(),
                    "state": state, "checks": touched})
    return out
