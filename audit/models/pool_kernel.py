"""2x2 max-pooling of float32 NCHW images as two compiled loops (numba): ATen's scan, without its branches.

ATen's NCHW kernel compares each window's four values in order and keeps the first maximum (a later value replaces
it only when greater, or NaN); which value wins follows the data, so on real activations its branches mispredict
and one thread spends most of a small CNN's forward pass there. These loops make the same comparisons in the same
order as selects, not branches: the same values, bit for bit, and the winner's position as a code 0-3 (row-major in
the window) for the backward pass, which writes `0.0 + grad` there and +0.0 elsewhere, as ATen's scatter-add into
zeros does. Signatures are given, so both compile when this module is first imported (about a second), before
any forked worker needs them.
"""

from __future__ import annotations

import numba
import numpy as np

_FLOATS = numba.float32[:, :, :, ::1]
_CODES = numba.uint8[:, :, :, ::1]


@numba.njit(numba.void(_FLOATS, _FLOATS, _CODES), nogil=True, cache=False)
def pool_forward(x: np.ndarray, out: np.ndarray, code: np.ndarray) -> None:  # pragma: no cover - compiled
    n, c, h, w = x.shape
    for i in range(n):
        for j in range(c):
            for r in range(h // 2):
                top, bottom, values, codes = x[i, j, 2 * r], x[i, j, 2 * r + 1], out[i, j, r], code[i, j, r]
                for q in range(w // 2):
                    best, k = top[2 * q], np.uint8(0)
                    v = top[2 * q + 1]
                    later = (v > best) | (v != v)
                    best, k = (v, np.uint8(1)) if later else (best, k)
                    v = bottom[2 * q]
                    later = (v > best) | (v != v)
                    best, k = (v, np.uint8(2)) if later else (best, k)
                    v = bottom[2 * q + 1]
                    later = (v > best) | (v != v)
                    best, k = (v, np.uint8(3)) if later else (best, k)
                    values[q], codes[q] = best, k


@numba.njit(numba.void(_FLOATS, _CODES, _FLOATS), nogil=True, cache=False)
def pool_backward(grad: np.ndarray, code: np.ndarray, grad_in: np.ndarray) -> None:  # pragma: no cover - compiled
    n, c, h2, w2 = grad.shape
    zero = np.float32(0.0)
    for i in range(n):
        for j in range(c):
            for r in range(h2):
                top, bottom, g, codes = grad_in[i, j, 2 * r], grad_in[i, j, 2 * r + 1], grad[i, j, r], code[i, j, r]
                for q in range(w2):
                    k, v = codes[q], zero + g[q]
                    top[2 * q] = v if k == 0 else zero
                    top[2 * q + 1] = v if k == 1 else zero
                    bottom[2 * q] = v if k == 2 else zero
                    bottom[2 * q + 1] = v if k == 3 else zero
            if grad_in.shape[2] % 2:  # an odd last row or column lies in no window: its gradient is zero
                grad_in[i, j, grad_in.shape[2] - 1, :] = zero
            if grad_in.shape[3] % 2:
                grad_in[i, j, :, grad_in.shape[3] - 1] = zero
