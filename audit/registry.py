"""Suites found through the "audit.suites" entry-point group (built-ins register the same way)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from audit.config import did_you_mean
from audit.errors import AuditInputError

if TYPE_CHECKING:
    from audit.suite import Output, Suite

# audit.suite (and with it torch, pandas, scipy) is imported only where a suite is loaded or its params checked:
# config validation needs only the names, from the entry-point metadata.
PRESETS = ("full", "quick")  # the same as audit.suite.PRESETS (a test checks)
GROUP = "audit.suites"
# The default run (and report) order: these built-ins in this order, then every other suite by name. A suite that
# `reads` another's output always runs after it (see `run_order`); the default order only breaks ties.
DEFAULT_ORDER = ("accuracy", "data", "fairness", "robustness", "privacy", "explainability", "efficiency")


@dataclass(frozen=True)
class SuiteEntry:
    name: str
    entry_point: EntryPoint

    def load(self) -> Suite:
        return self.entry_point.load()()

    def reads(self) -> tuple[Output, ...]:
        """The outputs this suite declares it reads (none when its class cannot be imported)."""
        try:
            return tuple(getattr(self.entry_point.load(), "reads", ()))
        except Exception:  # a broken plug-in is reported when it is planned, not here
            return ()


def _found() -> dict[str, SuiteEntry]:
    return {ep.name: SuiteEntry(ep.name, ep) for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    """Every registered suite's name, from the entry-point metadata alone (no suite module is imported)."""
    return sorted(_found())


def available() -> dict[str, SuiteEntry]:
    """All registered suites in run order (`run_order`); imports every suite's class to read its `reads`."""
    return _ordered(_found())


def _ordered(entries: Mapping[str, SuiteEntry]) -> dict[str, SuiteEntry]:
    return {n: entries[n] for n in run_order({n: e.reads() for n, e in entries.items()})}


def in_preset(suite: object, selection: str) -> bool:
    """Does `selection` run this suite? A comma list runs what it names; a preset runs the suites whose `presets`
    (default: every preset) include it."""
    return selection not in PRESETS or selection in getattr(suite, "presets", PRESETS)


def preset_only_reason(suite: object) -> str:
    """The skip reason shown for a suite its preset leaves out, e.g. "remedies: full preset only (...)"."""
    presets = getattr(suite, "presets", PRESETS)
    why = getattr(suite, "presets_reason", "")
    return (f"{getattr(suite, 'name', 'this suite')}: {' and '.join(presets)} preset only"
            f"{f' ({why})' if why else ''}; run --suite {presets[0]} or name it in --suite to run it")


def run_order(reads: Mapping[str, tuple[Output, ...]]) -> list[str]:
    """Suites ordered so that every suite runs after the suites it reads from (a topological order); among
    suites free to run, the one earliest in DEFAULT_ORDER (then by name) goes first. Reads of suites that are not
    installed are ignored here (the reader is told at run time that the output is missing)."""
    rank = {n: (DEFAULT_ORDER.index(n) if n in DEFAULT_ORDER else len(DEFAULT_ORDER), n) for n in reads}
    waiting = {n: {o.suite for o in outputs if o.suite in reads and o.suite != n} for n, outputs in reads.items()}
    order: list[str] = []
    while waiting:
        ready = [n for n, needs in waiting.items() if not needs]
        if not ready:
            cycle = ", ".join(sorted(waiting))
            raise AuditInputError(f"suites {cycle} read each other's outputs in a cycle, so none can run first; "
                                  "uninstall one of them or fix its `reads`")
        first = min(ready, key=rank.__getitem__)
        order.append(first)
        del waiting[first]
        for needs in waiting.values():
            needs.discard(first)
    return order


def resolve(selection: str) -> tuple[str, list[SuiteEntry]]:
    """`full` | `quick` | "a,b" -> (preset, suites). A comma list runs at full settings.

    A comma list imports only the suites it names (their order needs only their own `reads`), so
    `--suite accuracy` does not load the other suites' modules."""
    found = _found()
    if selection in PRESETS:
        return selection, list(_ordered(found).values())
    wanted = [s.strip() for s in selection.split(",") if s.strip()]
    if not wanted:
        raise AuditInputError("--suite is empty; use full, quick or a comma list of suite names")
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise AuditInputError(
            f"unknown suite {unknown[0]!r}{did_you_mean(unknown[0], [*PRESETS, *sorted(found)])}"
        )
    return "full", list(_ordered({n: found[n] for n in found if n in wanted}).values())


def apply_overrides(suite_name: str, params: Any, overrides: Mapping[str, Any]) -> Any:
    """User settings from [tool.audit.suites.<name>] onto the suite's frozen Params, type-checked, then every
    setting checked against its declared bounds (`audit.suite.validate_params`): the one place params are validated."""
    if overrides:
        hints = typing.get_type_hints(type(params))
        names = [f.name for f in dataclasses.fields(params)]
        changes = {}
        for key, value in overrides.items():
            if key not in hints:
                raise AuditInputError(f"suite {suite_name!r} has no setting {key!r}{did_you_mean(key, names)}")
            changes[key] = _coerce(suite_name, key, hints[key], value)
        params = dataclasses.replace(params, **changes)
    from audit.suite import validate_params

    return validate_params(suite_name, params)


def _coerce(suite: str, key: str, hint: Any, value: Any) -> Any:
    """A TOML value as the field's type: lists become tuples (element types checked), ints become floats; a
    boolean is never taken for a number."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]  # `int | None`: None cannot come from TOML, so the value must be the other type
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        element = typing.get_args(hint)[0] if typing.get_args(hint) else object
        return tuple(_coerce(suite, key, element, v) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = origin or hint
    wrong_bool = isinstance(value, bool) and expected in (int, float)
    if isinstance(expected, type) and (wrong_bool or not isinstance(value, expected)):
        raise AuditInputError(
            f"suite {suite!r} setting {key!r} must be {getattr(expected, '__name__', expected)}, got {value!r}"
        )
    return value
