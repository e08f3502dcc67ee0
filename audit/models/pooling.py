"""2x2 max-pooling on the CPU: the same values and gradients as `nn.MaxPool2d(2)`, bit for bit, in a quarter to a
half of the time.

On one CPU thread ATen's max-pool kernel for NCHW tensors is scalar code whose branches follow the data; on
mnist-cnn it took most of a forward pass (167 perturbed images: 11 of 15 ms, then 4 ms). Three faster ways, each
making the scan's comparisons in the scan's order (the first maximum of a window wins, NaN propagates):

- one thread, float32 NCHW (how the audit's suites run): compiled loops (audit.models.pool_kernel) that select
  rather than branch, and keep each winner's position for the backward pass. mnist-cnn's first layer, 167
  images on a 2.0 GHz Xeon: 2.3 ms without gradients and about 5 ms with the backward pass, against 9.2 and 14;
- with gradients otherwise: ATen's channels-last kernel, which compares over vectors of channels; the image is
  turned channels last for the pooling alone and back (the convolutions see the layout they always saw, so their
  rounding does not change), and the backward pass scatters with ATen's NCHW kernel from the forward's indices,
  which mean the same position in either layout;
- without gradients otherwise: two element-wise maxima over strided views (6.2 against 9.2 ms), the columns of
  each window in pairs, then its two rows. `torch.maximum` keeps its first operand on a tie (+0 against -0) only
  in ATen's element-by-element loop; its vector loop, used where every operand is contiguous along the innermost
  axis, keeps the second. So the first maxima are written with a window's two rows side by side (`pair`), no
  operand of either step is contiguous along any axis, and each step keeps the earlier element, as the scan does.
  That holds for contiguous images; a strided one (a narrow image stored transposed, say) goes to the
  channels-last kernel.

tests/models/test_pooling.py checks all three, bit for bit, on hostile values (signed zeros, NaN, ±inf,
subnormals) for wide and narrow, odd and strided images, on one thread and on two.
"""

from __future__ import annotations

import functools
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

_PAIRWISE_TYPES = (torch.float32, torch.float64, torch.bfloat16)  # checked bit for bit in tests/models/test_pooling.py
_ARGS = ([2, 2], [2, 2], [0, 0], [1, 1], False)  # kernel, stride, padding, dilation, ceil_mode of nn.MaxPool2d(2)


class _ChannelsLastPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, index = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2, return_indices=True)
        ctx.save_for_backward(x, index.contiguous())
        return out.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x, index = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, *_ARGS, index)


@functools.cache
def _kernel() -> ModuleType | None:
    """audit.models.pool_kernel, compiled on first use (None where numba is missing or cannot compile)."""
    try:
        from audit.models import pool_kernel
    except Exception:  # an optimisation only: torch's own kernels give the same bits
        return None
    return pool_kernel


def _compiled() -> ModuleType:
    kernel = _kernel()
    assert kernel is not None, "only called where _use_kernel said yes"
    return kernel


def _use_kernel(x: torch.Tensor) -> bool:
    """The compiled loops serve float32 NCHW batches on one thread (ATen's kernels parallelise over more)."""
    return (x.dtype == torch.float32 and x.is_contiguous() and x.shape[-1] >= 2 and x.shape[-2] >= 2
            and torch.get_num_threads() == 1 and _kernel() is not None)


def _kernel_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n, c, h, w = x.shape
    out = torch.empty((n, c, h // 2, w // 2), dtype=x.dtype)
    code = torch.empty((n, c, h // 2, w // 2), dtype=torch.uint8)
    _compiled().pool_forward(x.detach().numpy(), out.numpy(), code.numpy())
    return out, code


class _KernelPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, code = _kernel_forward(x)
        ctx.save_for_backward(x, code)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x, code = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: ATen's backward, which is itself differentiable
            return torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, *_ARGS, _flat_index(code, x))
        grad_in = torch.empty_like(x, memory_format=torch.contiguous_format)
        _compiled().pool_backward(grad.contiguous().numpy(), code.numpy(), grad_in.numpy())
        return grad_in


def _flat_index(code: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The window codes as ATen's indices: each winner's position in its flattened image plane."""
    h2, w2 = code.shape[-2:]
    k = code.long()
    rows = 2 * torch.arange(h2).view(h2, 1) + k // 2
    return rows * x.shape[-1] + 2 * torch.arange(w2) + k % 2


def _traced() -> bool:
    return bool(torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
                or torch.onnx.is_in_onnx_export())


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """`F.max_pool2d(x, 2)` for a batch of CPU images (n, c, h, w), faster on one thread; anything else (GPU
    tensors, unbatched images, tracing and export) goes to `F.max_pool2d` itself."""
    if x.device.type != "cpu" or x.dim() != 4 or _traced():
        return F.max_pool2d(x, 2)
    grad = torch.is_grad_enabled() and x.requires_grad
    if _use_kernel(x):
        return _KernelPool.apply(x) if grad else _kernel_forward(x)[0]
    if grad:
        return _ChannelsLastPool.apply(x)
    # torch's own error for a too small image; in a strided image a window's two rows may lie side by side in
    # memory, where ATen's vector loop could take the pairs
    if min(x.shape[-2:]) < 2 or x.dtype not in _PAIRWISE_TYPES or not x.is_contiguous():
        return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2).contiguous()
    return _pairwise_max(x)


def _pairwise_max(x: torch.Tensor) -> torch.Tensor:
    """Each window's maximum as the scan finds it, from two element-wise maxima (see the module's note)."""
    n, c, h, w = x.shape
    rows = x[..., : h - h % 2, : w - w % 2].unflatten(2, (h // 2, 2))  # (n, c, h/2, 2, w)
    pair = torch.empty((n, c, h // 2, w // 2, 2), dtype=x.dtype)  # a window's two row maxima side by side
    torch.maximum(rows[..., 0::2], rows[..., 1::2], out=pair.transpose(3, 4))
    return torch.maximum(pair[..., 0], pair[..., 1])


class MaxPool2d(nn.MaxPool2d):
    """`nn.MaxPool2d` that pools 2x2 windows with `max_pool_2x2`. It keeps the class name: layer rules are keyed
    by it (shap's DeepExplainer, `audit.suites.explainability.deeplift`), and it is the same operation."""

    def __init__(self, *args: object, **kwargs: object):
        super().__init__(*args, **kwargs)
        if not torch.cuda.is_available():  # compile now, once: the audit builds its model before it forks workers
            _kernel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._plain_2x2():
            return max_pool_2x2(x)
        return super().forward(x)

    def _plain_2x2(self) -> bool:
        return (self.kernel_size in (2, (2, 2)) and self.stride in (2, (2, 2)) and self.padding in (0, (0, 0))
                and self.dilation in (1, (1, 1)) and not self.ceil_mode and not self.return_indices)
