"""Variants of a text model for the efficiency suite, each built from a copy (the audited model never changes).

The model is either a sentence encoder behind a head (the MiniLM reference: the encoder is varied, the head reads its
embeddings) or a whole Hugging Face classifier (a transformers model, or a peft model around one). Variants: fp32 as
audited; int8 (dynamic quantisation of every Linear, per-channel weight scales, CPU kernels); bf16 and fp16 (weights
and activations cast); and, for a LoRA adapter only, the adapter merged into its base (`merge_and_unload`). For an
adapter the reduced-precision variants are made from the merged model, which is what one would deploy.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch

VARIANTS = ("int8", "bf16", "fp16", "lora-merged")
INT8_HOW = ("torch.ao.quantization.quantize_dynamic: qint8 weights with per-channel scales "
            "(per_channel_dynamic_qconfig) in every nn.Linear, activations quantised per batch; CPU kernels")


@dataclass(frozen=True)
class TextVariant:
    name: str
    module: torch.nn.Module | None  # the varied encoder or classifier; None when skipped
    how: str
    skipped: str | None = None  # why it was not built here


def is_adapter(model: torch.nn.Module) -> bool:
    """A peft model (LoRA adapter) that can be merged into its base."""
    return callable(getattr(model, "merge_and_unload", None))


def precision_unsupported(kind: str, device: str) -> str | None:
    """Why `kind` (bf16 or fp16) is not measured on `device`, or None when it has native kernels there."""
    if kind not in ("bf16", "fp16"):
        return None
    if device.startswith("cuda"):
        ok = torch.cuda.is_bf16_supported() if kind == "bf16" else True
        return None if ok else "this GPU has no bf16 support"
    if cpu_has_native(kind):
        return None
    needs = "AVX512-BF16 or AMX" if kind == "bf16" else "AVX512-FP16 or AMX-FP16"
    return (f"this CPU has no native {kind} instructions ({needs}); an emulated {kind} would time the emulation, not "
            "the format")


def cpu_has_native(kind: str) -> bool:
    """oneDNN's check for native bf16 (AVX512-BF16, AMX) or fp16 (AVX512-FP16, AMX-FP16) matrix kernels."""
    mkldnn = torch.ops.mkldnn
    return bool(mkldnn._is_mkldnn_bf16_supported() if kind == "bf16" else mkldnn._is_mkldnn_fp16_supported())


def deployable(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the model as deployed: an adapter merged into its base, any other model as it is."""
    copied = copy.deepcopy(model)
    return copied.merge_and_unload() if is_adapter(copied) else copied


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao eager quantisation is deprecated in favour of torchao
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        # Per-channel weight scales: per-tensor scales cost MiniLM ~0.05 of embedding cosine similarity.
        return quantize_dynamic(model.to("cpu"), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def build_variant(kind: str, model: torch.nn.Module, device: str) -> TextVariant:
    """The `kind` variant of `model` (an encoder or a classifier), or a skipped one saying why."""
    adapter = is_adapter(model)
    source = " of the LoRA-merged model" if adapter else ""
    if kind == "lora-merged":
        if not adapter:
            return TextVariant(kind, None, "merge_and_unload", skipped="no LoRA adapter is loaded")
        return TextVariant(kind, deployable(model), "peft merge_and_unload: the adapter's weights added to the base's")
    if kind == "int8":
        return TextVariant(kind, quantize_int8(deployable(model)), INT8_HOW + source)
    reason = precision_unsupported(kind, device)
    if reason is not None:
        return TextVariant(kind, None, f"module.to(torch.{_DTYPES[kind]})", skipped=reason)
    return TextVariant(kind, deployable(model).to(getattr(torch, _DTYPES[kind])),
                       f"weights and activations in {_DTYPES[kind]} (module.to(torch.{_DTYPES[kind]})){source}")


_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def make_variant(encoder: torch.nn.Module, kind: str) -> torch.nn.Module:
    """The `kind` copy of a sentence encoder (fp32: the encoder itself), whatever the machine supports."""
    if kind == "fp32":
        return encoder
    if kind == "int8":
        return quantize_int8(copy.deepcopy(encoder))
    return copy.deepcopy(encoder).to(getattr(torch, _DTYPES[kind]))


def device_of(module: torch.nn.Module) -> str:
    for tensor in module.state_dict().values():
        if isinstance(tensor, torch.Tensor):
            return str(tensor.device)
    return "cpu"
