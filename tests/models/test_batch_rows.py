"""Rows per model call from an input-value budget: tabular batches stay at 4,096 rows, wide rows get fewer."""

from __future__ import annotations

import torch

from audit.models.types import MAX_BATCH_ROWS, batch_rows, rows_within


def test_tabular_rows_keep_the_row_cap_and_images_get_fewer() -> None:
    assert batch_rows(torch.zeros(3, 106)) == MAX_BATCH_ROWS
    assert batch_rows(torch.zeros(3, 1, 28, 28)) == 2**19 // 784
    assert batch_rows(torch.zeros(0, 1, 28, 28)) == MAX_BATCH_ROWS


def test_budget_floor_and_ceiling() -> None:
    assert rows_within(100, 1000) == 10
    assert rows_within(10**6, 1000) == 1 and rows_within(10**6, 1000, min_rows=64) == 64
    assert rows_within(1, 10**6, max_rows=50) == 50
    assert rows_within(0, 1000) == 1000  # an empty row counts as one value
