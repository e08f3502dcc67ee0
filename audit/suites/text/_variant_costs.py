"""What a text-model variant costs: sequences/s at the data's own token lengths, latency of one sequence, bytes on
disk, and peak memory of one batch. A variant runs from raw text to logits (tokenising included) through
`EncoderAndHead` (a sentence encoder and the audited head) or `WholeClassifier` (a transformers classifier)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.foundation.embeddings import EmbeddingCache, encode_texts
from audit.suites.efficiency.footprint import footprint, peak_memory_bytes
from audit.suites.text._variants import device_of


class EncoderAndHead(nn.Module):
    """Texts -> sentence embeddings of `encoder` (float32) -> the audited head's logits (float32, CPU)."""

    def __init__(self, encoder: nn.Module, head: nn.Module, batch_size: int):
        super().__init__()
        self.encoder, self.head, self.batch_size = encoder, head, batch_size

    def embeddings(self, texts: Sequence[str], store: EmbeddingCache | None = None) -> torch.Tensor:
        """Embeddings of `texts`, read from `store` (this variant's embeddings kept by an earlier run) when it holds
        them all; otherwise all of `texts` are encoded in one call, as without a store (int8's outputs depend on the
        batch a text is in, so the batches stay those of an uncached run), and kept there."""
        if store is None or not texts:
            return encode_texts(self.encoder, texts, self.batch_size)
        first = {t: i for i, t in reversed(list(enumerate(texts)))}

        def encode(todo: Sequence[str]) -> torch.Tensor:
            every = encode_texts(self.encoder, texts, self.batch_size)
            return every[[first[t] for t in todo]]

        return store.get_or_encode(texts, encode)

    @torch.no_grad()
    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        emb = self.embeddings(texts).to(next(self.head.parameters()).device)
        return self.head(emb).float().cpu()


class WholeClassifier(nn.Module):
    """Texts -> the audited tokenisation (`inputs`, padding trimmed per batch) -> a transformers classifier's logits."""

    def __init__(self, model: nn.Module, inputs: Any):
        from audit.models.hf import HFSequenceClassifier

        super().__init__()
        self.classifier, self.inputs = HFSequenceClassifier(model).eval(), inputs

    @torch.no_grad()
    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        x = self.inputs.texts_to_inputs(list(texts)).to(device_of(self.classifier))
        return self.classifier(x).float().cpu()


VARIANT_TEXTS_KEPT = 20_000  # embeddings per encoder variant kept on disk for the drift rows


def variant_store(root: Path, encoder: nn.Module, kind: str) -> EmbeddingCache:
    """The on-disk embeddings of one variant of `encoder`, keyed by the encoder's weights, the variant and what its
    kernels' results depend on (torch version, quantised engine, CPU instruction set, torch threads: int8 outputs
    change with the thread count), so only an identical variant reads them."""
    digest = hashlib.sha256(json.dumps({"kind": kind, "torch": torch.__version__,
                                        "engine": str(torch.backends.quantized.engine),
                                        "cpu": torch.backends.cpu.get_cpu_capability(),
                                        "threads": torch.get_num_threads()}, sort_keys=True).encode())
    for name, t in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return EmbeddingCache(root, f"variant-{kind}-{digest.hexdigest()[:24]}", max_entries=VARIANT_TEXTS_KEPT)


def logits(run: nn.Module, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    """(n, classes) logits of `run` over `texts`, in batches, in order."""
    parts = [run(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, 0)


@dataclass(frozen=True)
class Costs:
    sequences_per_s: float  # best of `repeats` timed passes over `sequences` texts, in batches, after a warm-up batch
    latency_ms: float  # median of `single_calls` one-text calls
    latency_p95_ms: float
    size_bytes: int  # state dict saved with torch.save
    peak_memory_bytes: int  # torch allocations at the peak of one batch's forward pass, beyond what existed before
    device: str
    sequences: int
    repeats: int
    single_calls: int
    batch_size: int
    threads: int  # torch CPU threads the timed calls ran on


def measure_costs(run: nn.Module, sized: nn.Module, texts: Sequence[str], batch_size: int, repeats: int,
                  single_calls: int) -> Costs:
    """Time `run` on `texts` (the audited rows' own lengths, in data order) and size `sized` (what is varied)."""
    device = device_of(sized)
    run(list(texts[:batch_size]))  # warm-up: first-call allocations and kernel selection are not timed
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(0, len(texts), batch_size):
            run(list(texts[i : i + batch_size]))  # returns CPU tensors, so CUDA work is finished
        best = min(best, time.perf_counter() - started)
    single = []
    for text in texts[:single_calls]:
        started = time.perf_counter()
        run([text])
        single.append(time.perf_counter() - started)
    peak = peak_memory_bytes({"variant": run}, list(texts[:batch_size]), device)["variant"]  # type: ignore[arg-type]
    return Costs(len(texts) / best, 1000 * float(np.median(single)), 1000 * float(np.percentile(single, 95)),
                 footprint(sized).size_bytes, peak, device, len(texts), repeats, len(single), batch_size,
                 torch.get_num_threads())
