"""What a variant costs to store and to hold in memory: bytes on disk, parameters, non-zeros, peak memory."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Footprint:
    size_bytes: int  # state dict serialised with torch.save (tensors only)
    parameters: int  # weight and bias elements, packed quantized weights included
    nonzero: int
    weight_dtypes: tuple[str, ...]


def _tensors(value: object) -> Iterator[torch.Tensor]:
    """Tensors inside a state-dict value (quantized Linear layers pack (weight, bias) tuples)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)


def _is_weight(key: str) -> bool:
    return not key.endswith(("scale", "zero_point"))


def footprint(module: nn.Module) -> Footprint:
    state = module.state_dict()
    weights = [t for key, value in state.items() if _is_weight(key) for t in _tensors(value)]
    dense = [t.dequantize() if t.is_quantized else t for t in weights]
    return Footprint(
        size_bytes=_saved_size(state),
        parameters=int(sum(t.numel() for t in dense)),
        nonzero=int(sum(int(torch.count_nonzero(t)) for t in dense)),
        weight_dtypes=tuple(sorted({str(t.dtype).removeprefix("torch.") for t in weights if t.dim() > 1})),
    )


def _saved_size(state: dict) -> int:
    handle, path = tempfile.mkstemp(suffix=".pt")
    os.close(handle)
    try:
        torch.save(state, path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)


def peak_memory_bytes(modules: dict[str, nn.Module], x: torch.Tensor, device: str) -> dict[str, int]:
    """Per module, the peak bytes its forward pass over `x` allocates beyond what existed before it.

    CUDA: the caching allocator's peak counter. CPU: the profiler's allocation timeline (tracemalloc
    cannot see tensor memory, and process RSS only ever grows).
    """
    measure = _cuda_peak if device.startswith("cuda") else _cpu_peak
    return {name: measure(module, x) for name, module in modules.items()}


def _cuda_peak(module: nn.Module, x: torch.Tensor) -> int:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        module(x)
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated() - before)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The profiler's C++ layer prints start/stop lines straight to fd 2; keep them off the user's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak(module: nn.Module, x: torch.Tensor) -> int:
    # The autograd profiler records the same CPU allocation events as torch.profiler.profile without importing
    # torch._dynamo (about a second of CPU the first time). One session per module: frees inside a
    # record_function span lose their timing.
    with _native_stderr_silenced(), torch.no_grad(), torch.autograd.profiler.profile(profile_memory=True) as prof:
        module(x)
    # Each event's *self* allocation (net of its own frees), in time order; "[memory]" rows are frees.
    timeline = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.function_events
                      if e.self_cpu_memory_usage)
    live, peak = 0, 0
    for _, delta in timeline:
        live += delta
        peak = max(peak, live)
    return int(peak)
