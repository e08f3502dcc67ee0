"""Finished parts of a long suite (each ε of a sweep, each shadow model), kept so `--resume` skips them.

A part is stored as JSON under `<run>/checkpoints/<suite>/<part>.json` with the identity of what produced it
(model and data hashes, seed, suite parameters, code version). A part whose identity differs is recomputed, never
reused. Values are JSON (no pickle: a run folder may come from someone else); a suite sees the same JSON-decoded
value whether the part was just computed or read back, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.types import JSONValue, Provenance, to_json_dict

CHECKPOINT_DIR = "checkpoints"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.=-]")


def suite_identity(provenance: Provenance, seed: int, params: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """What determines a suite's figures: a finished result is reused only when all of this is equal."""
    return {"model_sha256": provenance.model_sha256, "data_sha256": provenance.data_sha256, "seed": seed,
            "audit_version": provenance.audit_version, "torch": provenance.torch, "params": to_json_dict(params)}


def discard_parts(run_dir: Path) -> None:
    """A run without --resume computes every part: parts an earlier run left in the same folder would otherwise be
    read back without the scorecard saying so. A link or a file in their place is removed (a link never followed),
    since the suites store their parts there."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)


@dataclass(frozen=True)
class PartCheckpoints:
    folder: Path
    identity_sha256: str

    @classmethod
    def for_suite(cls, run_dir: Path, suite: str, params: Mapping[str, JSONValue], provenance: Provenance,
                  seed: int) -> PartCheckpoints:
        identity = json.dumps(suite_identity(provenance, seed, params), sort_keys=True)
        return cls(Path(run_dir) / CHECKPOINT_DIR / _safe(suite), hashlib.sha256(identity.encode()).hexdigest())

    def part(self, name: str, compute: Callable[[], Any]) -> Any:
        """The part's value: read back when this run (or the killed run being resumed) finished it, else computed
        and saved. Returns the JSON form (tuples as lists, numpy arrays as lists, NaN as None)."""
        found, value = self.stored(name)
        return value if found else self.store(name, compute())

    def stored(self, name: str) -> tuple[bool, Any]:
        """(True, value) when the part was finished by a run with this identity, else (False, None)."""
        stored = self._read(self._path(name))
        return (True, stored["value"]) if stored is not None else (False, None)

    def store(self, name: str, value: Any) -> Any:
        """Save a finished part (atomically: a kill never leaves half a part); returns its JSON form."""
        value = json_form(value)
        path = self._path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"identity_sha256": self.identity_sha256, "value": value}), encoding="utf-8")
        os.replace(tmp, path)
        return value

    def _path(self, name: str) -> Path:
        return self.folder / f"{_safe(name)}.json"

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("identity_sha256") != self.identity_sha256:
            return None
        return stored


def json_form(value: Any) -> Any:
    """What a part reads back as: the value through JSON (lists for tuples and arrays, None for NaN)."""
    return json.loads(json.dumps(_plain(value)))


def _plain(value: Any) -> Any:
    """`to_json_dict`, with numeric arrays converted whole: a part of 16 shadow models holds 640,000 figures, and
    one call per figure cost seconds."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return np.where(np.isfinite(value), value, None).tolist()  # as to_json_dict: non-finite -> None
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return to_json_dict(value)


def _safe(name: str) -> str:
    return _SAFE_NAME.sub("_", name)[:120]
