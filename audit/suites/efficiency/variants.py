"""Compressed variants of the audited module: quantized, half precision, pruned, compiled.

Every variant is built from a deep copy, so the audited module itself is never changed.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from audit.suites.efficiency.footprint import Footprint

VARIANTS = ("fp32", "int8", "bf16", "fp16", "prune50", "prune90", "structured50", "compiled")
QUANTIZE_API = "torch.ao.quantization.quantize_dynamic (qint8 weights, nn.Linear only; torchao is not installed)"


@dataclass(frozen=True)
class Variant:
    name: str
    module: nn.Module | None  # None when skipped
    how: str  # how it was made (API and settings), for the reviewer
    input_dtype: torch.dtype = torch.float32
    differentiable: bool = True  # a white-box attack can take gradients through it
    declared_sparsity: float = 0.0  # share of prunable weights set to zero by design
    skipped: str | None = None  # why it could not be built here
    footprint: Footprint | None = None  # given for runtimes other than torch (e.g. the .onnx file's size)
    runtime: str = "torch"  # "onnxruntime" for ONNX graphs: no torch state dict, no torch memory profile


class CastInput(nn.Module):
    """Runs a reduced-precision module on float32 inputs and returns float32 outputs."""

    def __init__(self, module: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.module, self.dtype = module, dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.dtype)).float()


def prunable_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Linear and convolution layers, in definition order."""
    return [(name, m) for name, m in module.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def build(name: str, module: nn.Module, device: str) -> Variant:
    builders: dict[str, Callable[[nn.Module, str], Variant]] = {
        "fp32": _fp32, "int8": _int8, "bf16": _bf16, "fp16": _fp16, "prune50": lambda m, d: _unstructured(m, 0.5),
        "prune90": lambda m, d: _unstructured(m, 0.9), "structured50": lambda m, d: _structured(m, 0.5),
        "compiled": _compiled,
    }
    return builders[name](copy.deepcopy(module).eval(), device)


def _fp32(module: nn.Module, device: str) -> Variant:
    return Variant("fp32", module, "the audited module as given (float32 baseline)")


def _int8(module: nn.Module, device: str) -> Variant:
    if device != "cpu":
        return Variant("int8", None, QUANTIZE_API, skipped="dynamic int8 quantization runs on the CPU only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice
        quantized = torch.ao.quantization.quantize_dynamic(module.cpu(), {nn.Linear}, dtype=torch.qint8)
    return Variant("int8", quantized, QUANTIZE_API, differentiable=False)


def _bf16(module: nn.Module, device: str) -> Variant:
    return Variant("bf16", CastInput(module.to(torch.bfloat16), torch.bfloat16),
                   "weights and activations in bfloat16 (module.to(torch.bfloat16))", input_dtype=torch.bfloat16)


def _fp16(module: nn.Module, device: str) -> Variant:
    how = "weights and activations in float16 (module.half())"
    if not device.startswith("cuda"):
        return Variant("fp16", None, how, skipped="float16 inference is only measured on CUDA devices")
    return Variant("fp16", CastInput(module.half(), torch.float16), how, input_dtype=torch.float16)


def _unstructured(module: nn.Module, amount: float) -> Variant:
    for _, layer in prunable_layers(module):
        prune.l1_unstructured(layer, "weight", amount=amount)
        prune.remove(layer, "weight")  # make the zeros permanent
    return Variant(f"prune{round(amount * 100)}", module,
                   f"torch.nn.utils.prune.l1_unstructured, {amount:.0%} of each Linear/Conv weight by magnitude",
                   declared_sparsity=amount)


def _structured(module: nn.Module, amount: float) -> Variant:
    """Zero `amount` of the output units/channels of every hidden layer by L2 norm (bias included)."""
    layers = prunable_layers(module)[:-1]  # the output layer keeps every class
    for _, layer in layers:
        prune.ln_structured(layer, "weight", amount=amount, n=2, dim=0)
        prune.remove(layer, "weight")
        if layer.bias is not None:
            dead = layer.weight.detach().flatten(1).abs().sum(dim=1) == 0
            with torch.no_grad():
                layer.bias[dead] = 0.0
    return Variant(f"structured{round(amount * 100)}", module,
                   f"torch.nn.utils.prune.ln_structured (L2, dim 0): {amount:.0%} of the units/channels of each "
                   "hidden Linear/Conv zeroed with their bias; tensors keep their shape",
                   declared_sparsity=amount if layers else 0.0)


def _compiled(module: nn.Module, device: str) -> Variant:
    how = "torch.compile(module) with the default (inductor) backend"
    try:
        compiled = torch.compile(module)
    except Exception as error:  # noqa: BLE001 - any compile failure is reported, not raised
        return Variant("compiled", None, how, skipped=f"torch.compile failed: {error}")
    return Variant("compiled", compiled, how, differentiable=False)
