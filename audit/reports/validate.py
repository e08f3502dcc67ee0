"""Type-check scorecard JSON before conversion, so a hand-edited or corrupted file fails clearly.

`audit.types.from_json_dict` is lenient (a string where an array belongs becomes a tuple of characters), so the
raw JSON is checked against the dataclass annotations first.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any

# A float may be null: non-finite figures (NaN, an infinite CI bound) are written as null, read back as NaN.
_PRIMITIVES: dict[Any, tuple[type, ...]] = {
    float: (int, float, type(None)), int: (int,), str: (str,), bool: (bool,),
}


class ScorecardTypeError(ValueError):
    """A field of a loaded scorecard holds a value of the wrong type; the message names the field."""


def check_types(tp: Any, value: Any, path: str = "scorecard") -> None:
    """Raise ScorecardTypeError at the first JSON value that does not fit its annotation in audit.types."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return
    if origin in (typing.Union, types.UnionType):
        _check_union(typing.get_args(tp), value, path)
    elif origin is tuple:
        _check_tuple(typing.get_args(tp), value, path)
    elif origin in (Mapping, dict) or tp in (Mapping, dict):
        _expect(isinstance(value, dict), path, "an object", value)
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        _expect(value in {m.value for m in tp}, path, f"one of {[m.value for m in tp]}", value)
    elif dataclasses.is_dataclass(tp):
        _check_object(tp, value, path)
    elif tp in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[tp]) and (tp is bool or not isinstance(value, bool))
        _expect(ok, path, f"of type {tp.__name__}", value)


def _check_union(options: tuple[Any, ...], value: Any, path: str) -> None:
    if value is None and type(None) in options:
        return
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            check_types(option, value, path)
            return
        except ScorecardTypeError as exc:
            errors.append(str(exc))
    raise ScorecardTypeError(errors[0] if errors else f"{path}: unexpected value {value!r}")


def _check_object(tp: Any, value: Any, path: str) -> None:
    _expect(isinstance(value, dict), path, f"a {tp.__name__} object", value)
    hints = typing.get_type_hints(tp)
    for f in dataclasses.fields(tp):
        if f.name in value:
            check_types(hints[f.name], value[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ScorecardTypeError(f"{path}.{f.name} is missing")


def _check_tuple(args: tuple[Any, ...], value: Any, path: str) -> None:
    _expect(isinstance(value, list), path, "an array", value)
    if len(args) == 2 and args[1] is Ellipsis:
        for i, item in enumerate(value):
            check_types(args[0], item, f"{path}[{i}]")
        return
    _expect(len(value) == len(args), path, f"an array of {len(args)} items", value)
    for i, (arg, item) in enumerate(zip(args, value, strict=True)):
        check_types(arg, item, f"{path}[{i}]")


def _expect(ok: bool, path: str, wanted: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ScorecardTypeError(f"{path} should be {wanted}, not {shown}")
