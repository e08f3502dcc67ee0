"""Reduced-precision copies of a sentence encoder, timed and compared with the fp32 original."""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from audit.foundation.embeddings import encode_texts

VARIANTS = ("int8", "bf16", "fp16")


@dataclass(frozen=True)
class Timing:
    sentences_per_s: float
    device: str
    sentences: int
    repeats: int


def make_variant(encoder: torch.nn.Module, kind: str) -> torch.nn.Module:
    """int8: dynamic quantisation of every Linear, per-channel (CPU kernels); bf16/fp16: weights cast, same device."""
    if kind == "fp32":
        return encoder
    if kind == "int8":
        cpu_copy = copy.deepcopy(encoder).to("cpu")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():  # torch.ao eager quantisation is deprecated in favour of torchao
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            # Per-channel weight scales: per-tensor scales cost MiniLM ~0.05 of embedding cosine similarity.
            return quantize_dynamic(cpu_copy, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[kind]
    return copy.deepcopy(encoder).to(dtype)


def device_of(encoder: torch.nn.Module) -> str:
    for tensor in encoder.state_dict().values():
        if isinstance(tensor, torch.Tensor):
            return str(tensor.device)
    return "cpu"


def time_encoder(encoder: torch.nn.Module, texts: Sequence[str], batch_size: int, repeats: int) -> Timing:
    """Best-of-`repeats` throughput after one warm-up batch (best: least disturbed by other load)."""
    encode_texts(encoder, texts[:batch_size], batch_size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encode_texts(encoder, texts, batch_size)  # returns CPU tensors, so CUDA work is finished
        best = min(best, time.perf_counter() - start)
    return Timing(len(texts) / best, device_of(encoder), len(texts), repeats)


def size_mb(encoder: torch.nn.Module) -> float:
    """Serialised size of the weights (what a deployment would ship), in MB."""
    buffer = io.BytesIO()
    torch.save(encoder.state_dict(), buffer)  # writing only; nothing is ever unpickled
    return buffer.tell() / 1e6
