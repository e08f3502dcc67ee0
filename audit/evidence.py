"""Per-row evidence: what each suite saw row by row, written as Parquet beside scorecard.json.

A paired comparison of two runs (audit compare) resamples the same rows for both models, so it needs the
rows themselves, not only the summary figures. Each suite that can emits one `RowEvidence`; the runner writes
it to `evidence/<suite>.parquet`. Rows are identified by a stable key (a hash of the row's inputs and label),
and the whole row set by `rows_sha256` (a hash of the keys in order): two runs pair only when these agree.

Column conventions (docs/scorecard-schema.md): `label`, `predicted`, `proba[k]`, `group[<attribute>]`,
`member`, `score[<attack>]`, and any column named exactly like one of the suite's measurements, whose
value that measurement is the mean of (over the rows where it is not NaN).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.errors import AuditInputError
from audit.types import JSONValue

EVIDENCE_DIR = "evidence"
_META_KEY = b"audit.evidence"
EVIDENCE_VERSION = "1"


@dataclass(frozen=True, eq=False)
class RowEvidence:
    """Row-aligned columns for one set of rows. `rows` names the row set: "audit" (the audited test rows,
    or a subset of them) or "membership" (privacy's members and non-members)."""

    rows: str
    keys: tuple[str, ...]
    columns: Mapping[str, np.ndarray]
    meta: Mapping[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, column in self.columns.items():
            if len(column) != len(self.keys):
                raise ValueError(f"evidence column {name!r} has {len(column)} rows, expected {len(self.keys)}")

    def __eq__(self, other: object) -> bool:
        """Equal rows and values (NaN equal to NaN), so two runs with the same seed give equal suite outputs."""
        if not isinstance(other, RowEvidence):
            return NotImplemented
        return (self.rows, self.keys, dict(self.meta), list(self.columns)) == (
            other.rows, other.keys, dict(other.meta), list(other.columns)) and all(
            np.array_equal(np.asarray(v), np.asarray(other.columns[k]), equal_nan=np.asarray(v).dtype.kind == "f")
            for k, v in self.columns.items())

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable


@dataclass(frozen=True, eq=False)
class LoadedEvidence:
    suite: str
    rows: str
    rows_sha256: str
    meta: Mapping[str, JSONValue]
    frame: pd.DataFrame  # row_key first, then the suite's columns

    def column(self, name: str) -> np.ndarray:
        return self.frame[name].to_numpy()


def row_keys(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, salt: str = "") -> tuple[str, ...]:
    """A stable key per row: the first 16 hex digits of sha256(inputs, label, salt); repeats get `~k`.

    Every suite keys the same audited rows: the keys of the last few row sets are kept, found by one hash of
    the whole arrays (content, not identity, so a changed tensor is keyed again)."""
    xs = np.ascontiguousarray(np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32))
    ys = np.ascontiguousarray(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y).astype(np.int64))
    hasher = hashlib.sha256(f"{xs.shape}|{ys.shape}|{salt}|".encode())  # the shapes fix where each part ends
    hasher.update(xs)
    hasher.update(ys)
    whole = hasher.digest()
    if whole not in _KEYS_OF:
        _KEYS_OF[whole] = _row_keys(xs.reshape(xs.shape[0], -1), ys, salt)
        while len(_KEYS_OF) > 4:
            _KEYS_OF.pop(next(iter(_KEYS_OF)))
    return _KEYS_OF[whole]


_KEYS_OF: dict[bytes, tuple[str, ...]] = {}


def _row_keys(flat: np.ndarray, ys: np.ndarray, salt: str) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    keys = []
    for row, label in zip(flat, ys, strict=True):
        digest = hashlib.sha256(row.tobytes() + label.tobytes() + salt.encode()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        keys.append(digest if count == 0 else f"{digest}~{count}")
    return tuple(keys)


def rows_sha256(keys: tuple[str, ...] | list[str]) -> str:
    """One hash for an ordered row set: equal only when both runs saw the same rows in the same order."""
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def evidence_path(run_dir: Path, suite: str) -> Path:
    return Path(run_dir) / EVIDENCE_DIR / f"{suite}.parquet"


def write_evidence(run_dir: Path, suite: str, evidence: RowEvidence, data_sha256: str) -> Path:
    """Write atomically (a crash never leaves half a file); the row-set hash goes in the Parquet metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"row_key": list(evidence.keys), **{k: np.asarray(v) for k, v in evidence.columns.items()}})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {"version": EVIDENCE_VERSION, "suite": suite, "rows": evidence.rows,
            "rows_sha256": rows_sha256(evidence.keys), "data_sha256": data_sha256, "meta": dict(evidence.meta)}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    target = evidence_path(run_dir, suite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target


def read_evidence(path: Path) -> LoadedEvidence:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
    except (OSError, KeyError, ValueError) as exc:
        raise AuditInputError(f"{path} is not an audit evidence file ({exc}); re-run the audit to rewrite it") from None
    frame = table.to_pandas()
    if rows_sha256(list(frame["row_key"])) != meta["rows_sha256"]:
        raise AuditInputError(f"{path}: its row keys do not match its recorded hash; the file was altered")
    return LoadedEvidence(meta["suite"], meta["rows"], meta["rows_sha256"], meta.get("meta", {}), frame)


def load_run_evidence(run_dir: Path) -> dict[str, LoadedEvidence]:
    """Every suite's evidence in a run folder (empty when the run wrote none)."""
    folder = Path(run_dir) / EVIDENCE_DIR
    if not folder.is_dir():
        return {}
    return {p.stem: read_evidence(p) for p in sorted(folder.glob("*.parquet"))}


def prediction_columns(y: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """`label`, `predicted` and `proba[k]` for every class k."""
    columns = {"label": np.asarray(y, dtype=np.int64), "predicted": proba.argmax(axis=1).astype(np.int64)}
    columns.update({f"proba[{k}]": proba[:, k].astype(np.float64) for k in range(proba.shape[1])})
    return columns


def probabilities_of(evidence: LoadedEvidence) -> np.ndarray:
    """The (n, k) probability matrix back from `proba[k]` columns."""
    k = sum(1 for c in evidence.frame.columns if c.startswith("proba["))
    return np.stack([evidence.column(f"proba[{i}]") for i in range(k)], axis=1)
