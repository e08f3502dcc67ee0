"""Sentence embeddings: batched encoding and an on-disk cache keyed by encoder id and text hash.

The cache is one safetensors file per encoder (`$AUDIT_HOME/embeddings/<encoder_id>.safetensors`) holding
the SHA-256 digests of the texts and their embeddings, so subsets and re-runs reuse earlier work and
nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import os
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ProgressFn = Callable[[int, int], None]
ENCODE_CHUNK_BATCHES = 16  # batches handed to sentence-transformers at once: it sorts them by length (less padding)


def _autocast(device: str, bf16: bool):  # noqa: ANN202 - a context manager
    if bf16 and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def encode_texts(
    encoder: torch.nn.Module, texts: Sequence[str], batch_size: int = 64, bf16: bool = False,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Embeddings of `texts` as a float32 CPU tensor (n, d); `bf16` autocasts on a CUDA device.

    Texts go to sentence-transformers in chunks of ENCODE_CHUNK_BATCHES batches, which it orders by length
    within the chunk (batches of similar lengths pad less); rows come back in the order given."""
    device = str(next(encoder.parameters()).device)
    parts = []
    chunk = batch_size * ENCODE_CHUNK_BATCHES
    for start in range(0, len(texts), chunk):
        batch = list(texts[start : start + chunk])
        with _autocast(device, bf16):
            out = encoder.encode(batch, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        parts.append(out.float().cpu())
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    dim = _dimension(encoder)
    return torch.cat(parts) if parts else torch.empty(0, dim)


def _dimension(encoder: torch.nn.Module) -> int:
    get = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(get() or 0)


def text_digests(texts: Sequence[str]) -> np.ndarray:
    """(n, 32) uint8 SHA-256 digests of the UTF-8 texts."""
    raw = b"".join(hashlib.sha256(t.encode("utf-8")).digest() for t in texts)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), 32)


class EmbeddingCache:
    """Embeddings stored by (encoder id, text hash) under `root`; writes are atomic (rename) and merge with what
    other processes wrote meanwhile (under a lock).

    With `max_entries`, the oldest entries are dropped beyond that many (a cache of perturbed texts, which grows with
    every seed and setting; the data sets' own embeddings live in a separate file without a limit). The stored
    arrays are read once per object and kept."""

    def __init__(self, root: Path, encoder_id: str, max_entries: int | None = None):
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", encoder_id)
        self.path = Path(root) / "embeddings" / f"{safe_id}.safetensors"
        self.max_entries = max_entries
        self._state: tuple[np.ndarray, torch.Tensor] | None = None

    def _load(self) -> tuple[np.ndarray, torch.Tensor] | None:
        if self._state is None:
            self._state = self._read()
        return self._state

    def _read(self) -> tuple[np.ndarray, torch.Tensor] | None:
        if not self.path.is_file():
            return None
        from safetensors.torch import load_file

        stored = load_file(str(self.path))
        return stored["digests"].numpy(), stored["embeddings"]

    def _save(self, digests: np.ndarray, embeddings: torch.Tensor) -> None:
        """Write what this object holds together with what others wrote since it read the file (suites side by
        side share the file: without the merge, the last writer would drop the others' new entries)."""
        from safetensors.torch import save_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path.with_name(self.path.name + ".lock")):
            on_disk = self._read()
            if on_disk is not None:
                digests, embeddings = _union(on_disk, (digests, embeddings))
            if self.max_entries is not None and len(digests) > self.max_entries:
                digests, embeddings = digests[-self.max_entries :], embeddings[-self.max_entries :]
            self._state = (digests, embeddings)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            save_file({"digests": torch.from_numpy(np.ascontiguousarray(digests)),
                       "embeddings": embeddings.contiguous()}, str(tmp))
            tmp.replace(self.path)

    def get_or_encode(self, texts: Sequence[str], encode: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
        """Embeddings for `texts`, encoding (with `encode`) only those not cached yet."""
        digests = text_digests(texts)
        keys = [d.tobytes() for d in digests]
        stored = self._load()
        known: dict[bytes, int] = {} if stored is None else {d.tobytes(): i for i, d in enumerate(stored[0])}
        first_seen: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in known:
                first_seen.setdefault(k, i)
        missing = sorted(first_seen.values())
        if not missing:
            assert stored is not None or not keys
            return stored[1][[known[k] for k in keys]].clone() if stored is not None else encode([])
        fresh = encode([texts[i] for i in missing]).float().cpu()
        old_digests = np.zeros((0, 32), np.uint8) if stored is None else stored[0]
        old_emb = fresh[:0] if stored is None else stored[1]
        offset = old_digests.shape[0]
        for j, i in enumerate(missing):
            known[keys[i]] = offset + j
        merged = (np.concatenate([old_digests, digests[missing]]), torch.cat([old_emb, fresh]))
        result = merged[1][[known[k] for k in keys]].clone()
        self._save(*merged)
        return result


def _union(first: tuple[np.ndarray, torch.Tensor], then: tuple[np.ndarray, torch.Tensor]
           ) -> tuple[np.ndarray, torch.Tensor]:
    """`first`'s entries, then those of `then` whose text is not in `first` (oldest first, as pruning expects)."""
    seen = {d.tobytes() for d in first[0]}
    new = [i for i, d in enumerate(then[0]) if d.tobytes() not in seen]
    return np.concatenate([first[0], then[0][new]]), torch.cat([first[1], then[1][new]])


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive lock on `lock_path` across processes (POSIX flock; elsewhere no lock: no forked workers there)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


PERTURBED_CACHE_ENTRIES = 150_000  # texts kept on disk per encoder beyond the data sets' own (~0.23 GB for MiniLM)


@dataclass
class _Remembered:
    texts: dict[str, torch.Tensor] = field(default_factory=dict)  # text -> embedding (d,)
    seeded: set[str] = field(default_factory=set)  # data sets whose stored embeddings were added
    store: EmbeddingCache | None = None  # on-disk cache consulted before encoding


class EmbeddingMemo:
    """Embeddings computed earlier in this process, per (encoder, precision), so that each distinct text is encoded
    once however many text suites ask for it (clean rows, gender swaps and per-pair swaps overlap); with an attached
    on-disk cache, once across runs too.

    Weakly keyed by the encoder module (freed with the model; a variant or fine-tuned copy is another key), and
    cleared when it holds more than `max_texts` texts. Timing code calls `encode_texts` directly, never this."""

    def __init__(self, max_texts: int = 200_000):
        self.max_texts = max_texts
        self._by_encoder: weakref.WeakKeyDictionary[torch.nn.Module, dict[bool, _Remembered]] = (
            weakref.WeakKeyDictionary())

    def _entry(self, encoder: torch.nn.Module, bf16: bool) -> _Remembered:
        return self._by_encoder.setdefault(encoder, {}).setdefault(bf16, _Remembered())

    def attach(self, encoder: torch.nn.Module, bf16: bool, store: EmbeddingCache) -> None:
        """Read and write `store` for texts of `encoder` not in memory yet (its embeddings are a pure function of
        the text, so a later run reuses them)."""
        self._entry(encoder, bf16).store = store

    def seeded(self, encoder: torch.nn.Module, bf16: bool, key: str) -> bool:
        return key in self._entry(encoder, bf16).seeded

    def remember(self, encoder: torch.nn.Module, bf16: bool, texts: Sequence[str], embeddings: torch.Tensor,
                 key: str | None = None) -> None:
        entry = self._entry(encoder, bf16)
        if len(entry.texts) + len(texts) > self.max_texts:
            entry.texts.clear()
        entry.texts.update(zip(texts, embeddings, strict=True))
        if key is not None:
            entry.seeded.add(key)

    def get_or_encode(self, encoder: torch.nn.Module, bf16: bool, texts: Sequence[str],
                      encode: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
        """Embeddings (n, d) of `texts`, encoding with `encode` only the distinct texts not seen before."""
        entry = self._entry(encoder, bf16)
        known = entry.texts
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        encoded = None
        if todo:
            encoded = encode(todo) if entry.store is None else entry.store.get_or_encode(todo, encode)
        fresh = {} if encoded is None else dict(zip(todo, encoded, strict=True))
        out = torch.stack([fresh[t] if t in fresh else known[t] for t in texts]) if texts else \
            torch.empty(0, _dimension(encoder))
        if encoded is not None:
            self.remember(encoder, bf16, todo, encoded)
        return out


SHARED = EmbeddingMemo()  # the text suites' sentence embeddings in this process (audit.suites.text._common.embed)
