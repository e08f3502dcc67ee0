"""AuditConfig: CLI flags ⊕ [tool.audit] in pyproject.toml ⊕ --config FILE, validated and frozen.

Precedence (highest first): command-line flags, --config FILE, ./pyproject.toml [tool.audit].
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from audit.errors import AuditInputError
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
    arch: str | None = None
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    allow_unsafe_load: bool = False
    device: str = "auto"
    seed: int = DEFAULT_SEED
    out: str | None = None
    gate_on: str = "value"
    default_policy: bool = True
    policy: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    suites: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per-suite Params overrides

    def build_policy(self) -> Policy:
        user = parse_thresholds(self.policy, self.gate_on, "policy")
        return build_policy(user.items(), self.gate_on, self.default_policy)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=list))

    def sha256(self) -> str:
        """Hash of what determines the figures; the output folder does not."""
        inputs = {k: v for k, v in self.to_dict().items() if k != "out"}
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


_FIELDS = {f.name for f in fields(AuditConfig)}
_ALIASES = {"train-data": "train_data", "arch-kwargs": "arch_kwargs", "allow-unsafe-load": "allow_unsafe_load",
            "gate-on": "gate_on", "default-policy": "default_policy", "missing-group": "missing_group"}


def load_config(cli: Mapping[str, Any], config_file: Path | None = None, project_dir: Path = Path(".")) -> AuditConfig:
    """Merge the three sources and validate the result."""
    merged: dict[str, Any] = {}
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        merged.update(_section(_read_toml(pyproject).get("tool", {}).get("audit", {}), str(pyproject)))
    if config_file is not None:
        data = _read_toml(config_file)
        table = data.get("tool", {}).get("audit", data) if "tool" in data else data
        _merge(merged, _section(table, str(config_file)))
    _merge(merged, {k: v for k, v in cli.items() if v is not None})
    return _validate(AuditConfig(**_coerce(merged)))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AuditInputError(f"config file {path} does not exist; pass an existing TOML file to --config")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"config file {path} is not valid TOML: {exc}") from None


def _section(table: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            raise AuditInputError(f"{origin}: unknown setting {key!r}{did_you_mean(key, sorted(_FIELDS))}")
        out[name] = value
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    """Later sources win; policy and per-suite tables merge key by key."""
    for key, value in top.items():
        if key in ("policy", "suites") and isinstance(value, Mapping):
            base[key] = {**base.get(key, {}), **value}
        else:
            base[key] = value


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    for key in ("sensitive", "features"):
        if isinstance(values.get(key), str):
            values[key] = tuple(s.strip() for s in values[key].split(",") if s.strip())
        elif isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    if isinstance(values.get("arch_kwargs"), str):
        try:
            values["arch_kwargs"] = json.loads(values["arch_kwargs"])
        except json.JSONDecodeError as exc:
            raise AuditInputError(f"--arch-kwargs is not valid JSON ({exc}); pass e.g. '{{\"hidden\": 64}}'") from None
    return values


def _validate(cfg: AuditConfig) -> AuditConfig:
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise AuditInputError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if cfg.gate_on not in ("value", "ci"):
        raise AuditInputError(f"gate_on must be \"value\" or \"ci\", got {cfg.gate_on!r}")
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        raise AuditInputError(f"seed must be a non-negative integer, got {cfg.seed!r}")
    if not isinstance(cfg.arch_kwargs, Mapping):
        raise AuditInputError("arch_kwargs must be a JSON object, e.g. '{\"hidden\": 64}'")
    if cfg.data is not None and not cfg.label:
        raise AuditInputError(f"--data {cfg.data} needs --label COLUMN naming the label column")
    cfg.build_policy()  # validates every threshold now, before anything runs
    return cfg


def did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} Known: {', '.join(options)}"
