"""AuditConfig: CLI flags ⊕ [tool.audit] in pyproject.toml ⊕ --config FILE, validated and frozen.

Precedence (highest first): command-line flags, --config FILE, ./pyproject.toml [tool.audit].
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from audit.errors import AuditInputError, not_a_file
from audit.policy import Policy, build_policy, parse_thresholds

DEFAULT_MODEL = "adult-mlp"
DEFAULT_SEED = 0


@dataclass(frozen=True)
class AuditConfig:
    suite: str = "full"
    model: str = DEFAULT_MODEL
    data: str | None = None
    label: str | None = None
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    train_data: str | None = None
    missing_group: bool = False
    # A file of predictions audited without its model (audit.models.predictions): --predictions FILE
    predictions: str | None = None
    prediction_column: str = "prediction"
    score_column: str | None = None
    proba_columns: tuple[str, ...] = ()
    # A Hugging Face folder's data (--model DIR): --text-column COL (text) or --image-column COL (image paths); a
    # PEFT adapter's base
    text_column: str | None = None
    image_column: str | None = None
    base_model: str | None = None
    arch: str | None = None
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    allow_unsafe_load: bool = False
    device: str = "auto"
    seed: int = DEFAULT_SEED
    out: str | None = None
    # Where and how the run happens; none of these changes a figure (left out of sha256): --resume DIR continues a
    # killed run (audit.resume), --executor local | ray, --ray-address auto | HOST:PORT, --jobs N suites at once on
    # the local executor (None: one per usable core) (audit.executors).
    resume: str | None = None
    executor: str = "local"
    jobs: int | None = None
    ray_address: str | None = None
    gate_on: str = "value"
    default_policy: bool = True
    policy: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    suites: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per-suite Params overrides
    require: tuple[str, ...] | None = None  # pillars that must have evidence (None: the preset's default)
    allow_skipped: tuple[str, ...] = ()  # pillars or suites explicitly allowed to end without evidence
    regression: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # margins against a baseline
    waivers: tuple[Mapping[str, Any], ...] = ()  # [[tool.audit.waivers]] check, reason, owner, expires
    baseline: str | None = None  # run folder to compare against (audit run --baseline DIR)
    card: Mapping[str, str] = field(default_factory=dict)  # [tool.audit.card] / --card FILE (audit.card)
    # Recorded by the audit, never set by the user (see SYSTEM_FIELDS): safety-lowering switches that are on and
    # where they came from, and what the run actually used (data, label, sensitive attributes, features).
    safety_switches: Mapping[str, str] = field(default_factory=dict)
    used: Mapping[str, Any] = field(default_factory=dict)

    def build_policy(self) -> Policy:
        user = parse_thresholds(self.policy, self.gate_on, "policy")
        return build_policy(user.items(), self.gate_on, self.default_policy)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=list))

    def sha256(self) -> str:
        """Hash of what determines the figures; the output folder does not."""
        inputs = {k: v for k, v in self.to_dict().items() if k not in RUN_SETTINGS and k not in SYSTEM_FIELDS}
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


SYSTEM_FIELDS = frozenset({"safety_switches", "used"})
RUN_SETTINGS = ("out", "card", "resume", "executor", "ray_address", "jobs")  # settings that never change a figure
_FIELDS = {f.name for f in fields(AuditConfig)} - SYSTEM_FIELDS
_ALIASES = {"train-data": "train_data", "arch-kwargs": "arch_kwargs", "allow-unsafe-load": "allow_unsafe_load",
            "gate-on": "gate_on", "default-policy": "default_policy", "missing-group": "missing_group",
            "prediction-column": "prediction_column", "score-column": "score_column", "proba-columns": "proba_columns",
            "ray-address": "ray_address", "text-column": "text_column", "base-model": "base_model",
            "image-column": "image_column"}
# Switches that lower safety: strict booleans, shown in the scorecard, never read from the audited repository.
SAFETY_SWITCHES = ("allow_unsafe_load",)
_NON_EMPTY = ("suite", "model", "data", "label", "train_data", "arch", "out", "predictions", "prediction_column",
              "score_column", "resume", "ray_address", "text_column", "base_model",
              "image_column")
MAX_JOBS = 64  # suites at once on the local executor (audit.executors.MAX_JOBS)
SEED_LIMIT = 2**32  # derived seeds (seed * 1_000_003 + salt) must stay inside torch's 64-bit generator seed
_MAX_DEPTH = 16  # nesting allowed in table/JSON values; deeper input is refused before anything recurses on it
COMMAND_LINE = "the command line"


def load_config(cli: Mapping[str, Any], config_file: Path | None = None, project_dir: Path = Path("."),
                entry_config: Path | None = None) -> AuditConfig:
    """Merge the three sources (each type-checked on its own, so a message names where a bad value came from).
    `entry_config` (audit run-many's MODEL@FILE) is layered over `config_file`, under the command line."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        table = _table_at(_read_toml(pyproject), ("tool", "audit"), str(pyproject))
        _add_source(merged, origins, _section(table, f"{pyproject} [tool.audit]", from_project=True))
    for path in (p for p in (config_file, entry_config) if p is not None):
        data = _read_toml(path)
        table = _table_at(data, ("tool", "audit"), str(path)) if "tool" in data else data
        _add_source(merged, origins, _section(table, str(path)))
    cli_values = {k: v for k, v in cli.items() if v is not None}
    _add_source(merged, origins, _section(cli_values, COMMAND_LINE))
    switches = {k: f"on (set by {origins[k]})" for k in SAFETY_SWITCHES if merged.get(k) is True}
    return _validate(AuditConfig(**merged, safety_switches=switches))


def _add_source(merged: dict[str, Any], origins: dict[str, str], source: tuple[dict[str, Any], str]) -> None:
    values, origin = source
    _merge(merged, values)
    origins.update(dict.fromkeys(values, origin))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AuditInputError(f"config file {path} {not_a_file(path)}; pass an existing TOML file to --config")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise AuditInputError(f"config file {path} cannot be read ({exc.strerror or exc})") from None
    except RecursionError:
        raise AuditInputError(f"config file {path} nests arrays or tables too deeply to read; flatten it") from None


def _table_at(data: Mapping[str, Any], keys: tuple[str, ...], origin: str) -> Mapping[str, Any]:
    """data[keys[0]][keys[1]]…, or {} where a level is absent; a level that is not a table is an error."""
    table: Any = data
    for depth, key in enumerate(keys):
        table = table.get(key, {})
        if not isinstance(table, Mapping):
            raise AuditInputError(f"{origin}: [{'.'.join(keys[: depth + 1])}] must be a table, got {_shown(table)}")
    return table


def _section(table: Mapping[str, Any], origin: str, from_project: bool = False) -> tuple[dict[str, Any], str]:
    """One source's settings: names checked, values coerced from their text forms and type-checked."""
    hints = typing.get_type_hints(AuditConfig)
    out = {}
    for key, value in table.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            raise AuditInputError(f"{origin}: unknown setting {key!r}{did_you_mean(key, sorted(_FIELDS))}")
        if from_project and name in SAFETY_SWITCHES:
            raise AuditInputError(
                f"{origin}: {key!r} lowers safety and is never read from the audited project's pyproject.toml; "
                f"pass --{name.replace('_', '-')} on the command line or set it in a file you pass to --config"
            )
        value = _coerce(name, value, origin)
        _check_depth(name, value, origin)
        _check_type(name, hints[name], value, origin)
        _check_value(name, value, origin)
        out[name] = value
    return out, origin


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    """Later sources win, key by key at every depth: tables merge, anything else replaces."""
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            nested = dict(base[key])
            _merge(nested, value)
            base[key] = nested
        else:
            base[key] = value


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Text forms of list and JSON settings (from flags) into their structured values."""
    if name in ("sensitive", "features", "proba_columns") and isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    if name in ("sensitive", "features", "proba_columns", "require", "allow_skipped") and isinstance(value, list):
        return tuple(value)
    if name == "waivers" and isinstance(value, list):  # TOML dates (expires = 2026-01-31) as ISO text
        return tuple({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in w.items()}
                     if isinstance(w, Mapping) else w for w in value)
    if name == "card" and isinstance(value, str):  # --card FILE
        from audit.card import read_card_file

        return read_card_file(Path(value), origin)
    if name == "arch_kwargs" and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise AuditInputError(f"--arch-kwargs is not valid JSON ({exc}); pass e.g. '{{\"hidden\": 64}}'") from None
        except RecursionError:
            raise AuditInputError(f"{origin}: arch_kwargs nests deeper than {_MAX_DEPTH} levels; flatten it") from None
    return value


def _check_depth(name: str, value: Any, origin: str) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise AuditInputError(f"{origin}: setting {name!r} nests deeper than {_MAX_DEPTH} levels; flatten it")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


def _check_type(path: str, hint: Any, value: Any, origin: str) -> None:
    """Value against the field's annotation; a wrong type is exit 2 naming the key, the type wanted and the value."""
    if _fits(hint, value):
        return
    if typing.get_origin(hint) in (Mapping, dict) and isinstance(value, Mapping):
        for key, item in value.items():  # name the entry at fault: 'suites.accuracy', not 'suites'
            _check_type(f"{path}.{key}", typing.get_args(hint)[1], item, origin)
    raise AuditInputError(
        f"{origin}: setting {path!r} must be {_describe(hint)}, got {_shown(value)} ({_toml_type(value)})"
    )


def _fits(hint: Any, value: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is Any:
        return _is_json(value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(_fits(args[0], v) for v in value)
    if origin in (Mapping, dict):
        return isinstance(value, Mapping) and all(isinstance(k, str) and _fits(args[1], v) for k, v in value.items())
    return True  # an annotation this checker does not know: the field's own validation applies


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float
        return False


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is tuple:
        return "a list of strings (or one comma-separated string)"
    if origin in (Mapping, dict):
        return "a table of tables" if args and typing.get_origin(args[1]) in (Mapping, dict) else "a table"
    names = {bool: "a boolean (true or false, without quotes)", int: "an integer", float: "a finite number",
             str: "a string", Any: "a string, number, boolean, array or table"}
    return names.get(hint, str(hint))


def _toml_type(value: Any) -> str:
    kinds = [(bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
             ((list, tuple), "an array"), (Mapping, "a table")]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_value(name: str, value: Any, origin: str) -> None:
    """Allowed values of a setting whose type is already right."""
    if name in _NON_EMPTY and isinstance(value, str) and not value.strip():
        raise AuditInputError(f"{origin}: setting {name!r} is empty; give a value or leave the setting out")
    if name == "device" and value not in ("auto", "cpu", "cuda"):
        raise AuditInputError(f"{origin}: device must be auto, cpu or cuda, got {_shown(value)}")
    if name == "executor" and value not in ("local", "ray"):
        raise AuditInputError(f"{origin}: executor must be local or ray, got {_shown(value)}")
    if name == "jobs" and not 1 <= value <= MAX_JOBS:
        raise AuditInputError(f"{origin}: jobs must be an integer from 1 to {MAX_JOBS}, got {_shown(value)}")
    if name == "gate_on" and value not in ("value", "ci"):
        raise AuditInputError(f"{origin}: gate_on must be \"value\" or \"ci\", got {_shown(value)}")
    if name == "card":
        from audit.card import parse_card

        parse_card(value, f"{origin} [card]")
    if name == "policy":
        parse_thresholds(value, "value", f"{origin} [policy]")  # each source's thresholds, checked where written
    if name == "seed" and not 0 <= value < SEED_LIMIT:
        raise AuditInputError(f"{origin}: seed must be an integer from 0 to {SEED_LIMIT - 1}, got {_shown(value)}")


def _validate(cfg: AuditConfig) -> AuditConfig:
    if cfg.data is not None and not cfg.label and not Path(cfg.data).is_dir():  # an ImageFolder labels by folder
        raise AuditInputError(f"--data {cfg.data} needs --label COLUMN naming the label column")
    if cfg.predictions is not None and not cfg.label:
        raise AuditInputError(f"--predictions {cfg.predictions} needs --label COLUMN naming the label column")
    if cfg.predictions is not None and cfg.data is not None:
        raise AuditInputError("--predictions and --data exclude each other: the prediction file holds the audited "
                              "rows (labels, predictions, sensitive and feature columns)")
    cfg.build_policy()  # validates every threshold now, before anything runs
    _validate_gate_settings(cfg)
    return cfg


def _validate_gate_settings(cfg: AuditConfig) -> None:
    """require / allow_skipped names, regression margins and waivers, checked before anything runs."""
    from audit import registry
    from audit.policy.regression import build_regression_policy
    from audit.policy.requirements import validate_names
    from audit.policy.waivers import parse_waivers

    validate_names(cfg.require, cfg.allow_skipped, registry.names())
    build_regression_policy(cfg.regression)
    parse_waivers(cfg.waivers)


def did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"{hint} Known: {', '.join(options)}"
