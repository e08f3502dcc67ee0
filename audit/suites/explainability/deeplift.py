"""shap's DeepExplainer (DeepLIFT rescale rule, paired with each background row), computed on batches of rows.

shap's PyTorch DeepExplainer explains one row at a time: it stacks the row, repeated once per background row,
on top of the background, runs that joint batch forward and backward with hooks that replace each nonlinearity's
gradient by the rescale multiplier (Δout / Δin of the pair), and keeps the background half's gradient times
(x - background), averaged over the background. Here the same rules are applied:

- `chain_deeplift`, for a model that is a plain chain of layers shap has rules for: each row and each background
  row goes forward once (not once per pair, and not a second time as the other half of a joint batch), and the
  multipliers of every (row, background row) pair are propagated backward once, in batches of pairs;
- `batched_deeplift`, for anything else shap supports: shap's own hooks on joint batches of several rows.

Both equal shap's values on the same inputs up to float32 rounding (tests/suites/test_explainability_parts.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audit.models.types import rows_within

# (row, background row) pairs propagated backward together: their tensors stay in cache (an image's first
# activations: 12,544 values a pair); mnist-cnn, 300 rows: 200-pair batches took ~1.6x the CPU of 50, 25 ~1.15x.
PAIRS_PER_BATCH = 256
PAIR_VALUES = 2**20  # a pair batch's values in its widest layer
_ELEMENTWISE = {"ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softplus", "SELU", "GELU"}  # shap: nonlinear_1d
_MAXPOOL = {"MaxPool1d", "MaxPool2d", "MaxPool3d"}
_LINEAR = {"Dropout", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity", "Flatten", "Linear", "Conv1d", "Conv2d",
           "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "BatchNorm1d", "BatchNorm2d",
           "BatchNorm3d"}  # shap: passthrough / linear_1d (the ordinary gradient)
# Every layer shap.explainers._deep.deep_pytorch.op_handler has a rule for (a test checks they are the same names);
# Softmax (not elementwise) goes through shap's own hooks.
SHAP_RULES = frozenset(_ELEMENTWISE | _MAXPOOL | _LINEAR | {"Softmax"})
_CONV_INPUT = {1: torch.nn.grad.conv1d_input, 2: torch.nn.grad.conv2d_input, 3: torch.nn.grad.conv3d_input}


def deeplift(head: nn.Module, x: torch.Tensor, background: torch.Tensor, classes: np.ndarray) -> np.ndarray:
    """(n, D) DeepExplainer values of `head` (a DecisionOutput) for `x` against `background`, explaining output
    column `classes[i]` of row i (column 0 for a binary head)."""
    column = torch.as_tensor(classes if head.task != "binary" else np.zeros(len(x), dtype=int), dtype=torch.long)
    with torch.no_grad():
        chain = _chain(head, x[:1]) if head.outputs == "logits" else None
        if chain is not None:
            return chain_deeplift(head, chain, x, background, column)
    return batched_deeplift(head, x, background, column)


def _chain(head: nn.Module, probe: torch.Tensor) -> list[nn.Module] | None:
    """The leaf layers of `head.module` in call order when its forward is nothing but those layers one after the
    other (each layer's input is the previous one's output), all with a rule here; else None."""
    calls: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []
    leaves = [m for m in head.module.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((m, i[0] if i else None, o))) for m in leaves]
    try:
        out = head.module(probe)
    finally:
        for h in hooks:
            h.remove()
    if not calls or calls[0][1] is not probe or calls[-1][2] is not out or len({id(c[0]) for c in calls}) < len(calls):
        return None
    if any(b[1] is not a[2] for a, b in zip(calls, calls[1:], strict=False)):
        return None
    layers = [c[0] for c in calls]
    for m in layers:
        kind = type(m).__name__
        if kind not in _ELEMENTWISE | _MAXPOOL | _LINEAR or m.training and kind.startswith(("Dropout", "Batch")):
            return None
        if kind.startswith("Conv") and "Transpose" not in kind and m.padding_mode != "zeros":
            return None
    return layers


def _forward(layers: list[nn.Module], x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    values = []
    for m in layers:
        y = m(x)
        values.append((x, y))
        x = y
    return values


def chain_deeplift(head: nn.Module, layers: list[nn.Module], x: torch.Tensor, background: torch.Tensor,
                   column: torch.Tensor) -> np.ndarray:
    n, b = len(x), len(background)
    with torch.no_grad():
        fx, fr = _forward(layers, x), _forward(layers, background)
        n_out = fr[-1][1].shape[1]
    ref_grad = []  # shap takes a nonlinearity's own gradient at the reference where |Δin| < 1e-6
    pool_index = []
    for m, (xi, _), (ri, _) in zip(layers, fx, fr, strict=True):
        kind = type(m).__name__
        if kind in _ELEMENTWISE:
            with torch.enable_grad():
                z = ri.detach().clone().requires_grad_()
                ref_grad.append(torch.autograd.grad(m(z).sum(), z)[0])
            pool_index.append(None)
        elif kind in _MAXPOOL:
            ref_grad.append(None)
            pool = getattr(F, kind.lower().replace("maxpool", "max_pool"))
            with torch.no_grad():
                pool_index.append((pool(xi, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, True)[1],
                                   pool(ri, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, True)[1]))
        else:
            ref_grad.append(None)
            pool_index.append(None)
    if head.task == "binary":
        seed_grad = torch.zeros(n_out, device=x.device)
        seed_grad[head.positive], seed_grad[1 - head.positive] = 1.0, -1.0
        seeds = seed_grad.expand(n, n_out)
    else:
        seeds = F.one_hot(column.to(x.device), n_out).to(fr[-1][1].dtype)
    rows_per_batch, refs_per_batch = pair_batch(b, max(ri[0].numel() for ri, _ in fr))
    flat_x, flat_bg = x.reshape(n, -1), background.reshape(b, -1)
    values = np.empty((n, flat_x.shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, n, rows_per_batch):
            rows = slice(start, min(start + rows_per_batch, n))
            k = rows.stop - rows.start
            product = torch.empty((k, b, flat_x.shape[1]), dtype=flat_x.dtype, device=x.device)
            for ref_start in range(0, b, refs_per_batch):
                refs = slice(ref_start, min(ref_start + refs_per_batch, b))
                c = refs.stop - refs.start
                g = seeds[rows].repeat_interleave(c, dim=0)
                d_out = None
                for i in range(len(layers) - 1, -1, -1):
                    fr_i = (fr[i][0][refs], fr[i][1][refs])
                    rg = None if ref_grad[i] is None else ref_grad[i][refs]
                    pi = None if pool_index[i] is None else (pool_index[i][0], pool_index[i][1][refs])
                    g = _backward(layers[i], g, fx[i], fr_i, rows, k, rg, pi, d_out)
                    g, d_out = g if isinstance(g, tuple) else (g, None)
                torch.mul(g.reshape(k, c, -1), flat_x[rows, None, :] - flat_bg[None, refs, :], out=product[:, refs])
            values[rows] = product.mean(dim=1).cpu().numpy()
    return values.astype(float)


def pair_batch(b: int, values_per_pair: int) -> tuple[int, int]:
    """(rows, background rows) per backward batch: pairs x the widest layer's values per pair within PAIR_VALUES
    (at most PAIRS_PER_BATCH pairs); whole rows against the whole background where that allows, else one row
    against equal parts of it (mnist-cnn: 12,544 values per pair, 100 background rows -> 1 x 50)."""
    pairs = rows_within(values_per_pair, PAIR_VALUES, max_rows=PAIRS_PER_BATCH)
    if pairs >= b:
        return pairs // b, b
    parts = -(-b // pairs)
    return 1, -(-b // parts)


def _pairs(a: torch.Tensor, r: torch.Tensor, k: int) -> torch.Tensor:
    """(k, ...) rows and (b, ...) references -> (k * b, ...) row-minus-reference differences."""
    return (a[:, None] - r[None]).reshape(k * len(r), *a.shape[1:])


def _unpool(values: torch.Tensor, index: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """max_unpool: `values` (N, C, *pooled) written at their pooling `index` into zeros of `shape` (N, C, *input),
    as one scatter over each flattened plane (the same writes in the same order as F.max_unpool*d, at half
    its cost on the CPU)."""
    planes = shape[0] * shape[1]
    out = values.new_zeros(planes, int(np.prod(shape[2:])))
    return out.scatter_(1, index.reshape(planes, -1), values.reshape(planes, -1)).view(shape)


# The masks below are built from the floats' bits with integer ops: on the CPU, torch's comparisons, where and
# masked_fill with bool masks run several times slower than integer ops, which give the same bits.
_AS_INT = {torch.float32: (torch.int32, 31), torch.float64: (torch.int64, 63)}


def _small_mask(d: torch.Tensor, threshold: float) -> torch.Tensor | None:
    """All ones where |d| < threshold, else zeros, as d's bits' integer type (None for other float types).

    A non-negative float's bits order like the float (NaN above infinity, so never small); the subtraction of two
    such bit patterns cannot overflow, and its sign bit, shifted arithmetically, fills the mask."""
    if d.dtype not in _AS_INT:
        return None
    int_type, sign = _AS_INT[d.dtype]
    limit = int(torch.tensor(threshold, dtype=d.dtype).view(int_type))
    return d.view(int_type).bitwise_and((1 << sign) - 1).sub_(limit).bitwise_right_shift_(sign)


def _zero_where_small(values: torch.Tensor, d: torch.Tensor, threshold: float) -> torch.Tensor:
    """`values.masked_fill_(d.abs() < threshold, 0.0)`, bit for bit."""
    mask = _small_mask(d, threshold)
    if mask is None:
        return values.masked_fill_(d.abs() < threshold, 0.0)
    return values.view(mask.dtype).bitwise_and_(mask.bitwise_not_()).view(values.dtype)


def _select_where_small(d: torch.Tensor, threshold: float, ref_grad: torch.Tensor, ratio: torch.Tensor,
                        k: int) -> torch.Tensor:
    """Each pair's `ref_grad` (one per reference, the same for every row) where |d| < threshold, else `ratio`:
    torch.where, bit for bit; `ratio` is overwritten."""
    pair_shape = (k, *ref_grad.shape)
    mask = _small_mask(d, threshold)
    if mask is None:
        small = (d.abs() < threshold).view(pair_shape)
        return torch.where(small, ref_grad[None], ratio.view(pair_shape)).view_as(ratio)
    picked = mask.view(pair_shape).bitwise_and(ref_grad.view(mask.dtype)[None]).view_as(mask)
    return ratio.view(mask.dtype).bitwise_and_(mask.bitwise_not_()).bitwise_or_(picked).view(ratio.dtype)


def _backward(m: nn.Module, g: torch.Tensor, fx: tuple[torch.Tensor, torch.Tensor],
              fr: tuple[torch.Tensor, torch.Tensor], rows: slice, k: int, ref_grad: torch.Tensor | None,
              pool_index: tuple[torch.Tensor, torch.Tensor] | None,
              d_out: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The pairs' multipliers with respect to the layer's input, from those with respect to its output (`g`); a
    max-pool layer also returns its input differences, which are the previous layer's output differences."""
    kind = type(m).__name__
    (xi, xo), (ri, ro) = fx, fr
    b = len(ri)
    if kind in _ELEMENTWISE:
        d_in = _pairs(xi[rows], ri, k)
        ratio = (_pairs(xo[rows], ro, k) if d_out is None else d_out).div_(d_in)
        return g.mul_(_select_where_small(d_in, 1e-6, ref_grad, ratio, k))
    if kind in _MAXPOOL:
        shape = (k * b, *xi.shape[1:])
        y, ref = xo[rows][:, None], ro[None]
        cross = torch.maximum(y, ref)
        ix = pool_index[0][rows].repeat_interleave(b, dim=0)
        ir = pool_index[1] if k == 1 else pool_index[1].repeat(k, *([1] * (ro.dim() - 1)))
        g = g.view(k, b, *ro.shape[1:])
        total = _unpool(g * (cross - ref), ix, shape)
        total += _unpool(g * (y - cross), ir, shape)
        d_in = _pairs(xi[rows], ri, k)
        total.div_(d_in)
        return _zero_where_small(total, d_in, 1e-7), d_in
    if kind == "Linear":
        return g @ m.weight
    if kind in ("Conv1d", "Conv2d", "Conv3d"):
        return _CONV_INPUT[m.weight.dim() - 2]((k * b, *xi.shape[1:]), m.weight, g, m.stride, m.padding,
                                               m.dilation, m.groups)
    if kind in ("Flatten", "Identity") or kind.endswith("Dropout") or kind.startswith("Dropout"):
        return g.reshape(k * b, *xi.shape[1:])
    with torch.enable_grad():  # the remaining layers are affine: their gradient does not depend on the point
        z = torch.zeros((k * b, *xi.shape[1:]), dtype=xi.dtype).requires_grad_()
        return torch.autograd.grad(m(z), z, g)[0]


def batched_deeplift(head: nn.Module, x: torch.Tensor, background: torch.Tensor,
                     column: torch.Tensor) -> np.ndarray:
    """shap's DeepExplainer hooks on joint batches: several rows, each repeated once per background row, on top of
    the background repeated as often; the background half's gradient times (x - background), averaged."""
    from shap.explainers._deep.deep_pytorch import PyTorchDeep, add_interim_values, deeplift_grad

    own = {id(m): set(m._parameters) for m in head.modules()}
    explainer = PyTorchDeep(head, background)
    handles = explainer.add_handles(head, add_interim_values, deeplift_grad)
    n, b = len(x), len(background)
    rows_per_batch = max(1, PAIRS_PER_BATCH // (2 * b))
    values = np.empty((n, int(np.prod(x.shape[1:]))))
    try:
        for start in range(0, n, rows_per_batch):
            rows = slice(start, min(start + rows_per_batch, n))
            k = rows.stop - rows.start
            tiled = x[rows].repeat_interleave(b, dim=0)
            joint = torch.cat([tiled, background.repeat(k, *([1] * (background.dim() - 1)))]).requires_grad_()
            head.zero_grad()
            with torch.enable_grad():
                out = head(joint)
                picked = out.gather(1, column[rows].to(x.device).repeat_interleave(b).repeat(2)[:, None]).sum()
                grad = torch.autograd.grad(picked, joint)[0][k * b:]
            delta = tiled - joint[k * b:].detach()
            values[rows] = (grad.detach() * delta).reshape(k, b, -1).mean(dim=1).cpu().numpy()
    finally:
        for handle in handles:
            handle.remove()
        explainer.remove_attributes(head)
        from audit.suites.explainability.attribution import _drop_added_parameters

        _drop_added_parameters(head, own)
    return values
