"""The robustness suite's model passes, at most `CHUNK_VALUES` input values each (`audit.models.types.rows_within`).

An attack batch (512 rows, or 512 rows × ε in the sweep) draws its random starts, windows and signs for all its rows
at once; only the model's passes on it are cut into chunks. mnist-cnn's activations for 167 images stay within the
cache where a 512-row pass's do not (PGD on 1,000 images ~25% less CPU), and a row's logits and input gradient do not
depend on the rows beside it, so every draw, point and figure is the same. A call on at most `rows` rows is passed
on as it is, a larger one in nearly equal pieces (`row_chunks`) of at least half the limit (84 mnist-cnn rows), so
no piece has the few rows on which matrix products take another kernel path (rounded differently) unless the call
itself has: 1-3 rows on some CPUs, fewer than 16 for a 784-wide product with MKL on an AVX-512 CPU. Tabular rows
(~100 values) fit a whole attack batch into one pass.
"""

from __future__ import annotations

import torch
from torch import nn

from audit.models.types import CACHE_PASS_VALUES, row_values, rows_within

CHUNK_VALUES = CACHE_PASS_VALUES  # input values per pass (mnist-cnn: 167 rows)


def chunk_rows(u: torch.Tensor, device: str = "cpu") -> int | None:
    """Rows per pass for inputs shaped like `u`'s rows; None (whole calls) off the CPU, where the cache is not the
    limit and larger passes keep an accelerator busy."""
    if not device.startswith("cpu"):
        return None
    return rows_within(row_values(u), CHUNK_VALUES)


def row_chunks(n: int, max_rows: int) -> list[slice]:
    """`n` rows in consecutive, nearly equal pieces of at most `max_rows` rows."""
    if n == 0:
        return []
    pieces = -(-n // max(max_rows, 1))
    bounds = [n * i // pieces for i in range(pieces + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


class RowChunks(nn.Module):
    """`inner` called on at most `rows` rows at a time (None: every call whole); outputs (and gradients through them)
    row for row the same."""

    def __init__(self, inner: nn.Module, rows: int | None):
        super().__init__()
        self.inner, self.rows = inner, rows

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.rows is None or u.shape[0] <= self.rows:
            return self.inner(u)
        return torch.cat([self.inner(u[sl]) for sl in row_chunks(u.shape[0], self.rows)])
