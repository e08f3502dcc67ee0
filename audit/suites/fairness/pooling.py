"""Which values of a sensitive attribute the proxy classifier learns: never one class per rare value.

A value with fewer than `min_rows` rows cannot be told apart reliably (and a one-row value cannot sit on
both sides of the fit / held-out split), and thousands of classes make the classifier slow and its macro
AUROC meaningless. Such values are pooled into one "other" class, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OTHER = "(other values)"


@dataclass(frozen=True, eq=False)
class PooledLabels:
    labels: np.ndarray  # one class label per row; rare values replaced by OTHER
    classes: int  # distinct classes left, "other" included
    pooled_values: int  # original values folded into "other"
    pooled_rows: int

    def note(self, attribute: str, min_rows: int) -> str | None:
        if not self.pooled_values:
            return None
        return (f"For the proxy check of {attribute}, {self.pooled_values} value(s) with fewer than {min_rows} rows "
                f"or beyond the {self.classes - 1} most common ({self.pooled_rows} rows in all) were pooled into one "
                f"'{OTHER}' class.")


def pool_rare_values(labels: np.ndarray, min_rows: int, max_classes: int) -> PooledLabels:
    """Keep the (up to `max_classes - 1` when pooling) most common values with at least `min_rows` rows each."""
    values, counts = np.unique(labels, return_counts=True)
    order = np.lexsort((values, -counts))  # most common first; ties by value, so the choice is deterministic
    common = [i for i in order if counts[i] >= min_rows]
    if len(common) == len(values) and len(values) <= max_classes:
        return PooledLabels(labels, len(values), 0, 0)
    kept = values[sorted(common[: max_classes - 1])]
    rare = ~np.isin(labels, kept)
    pooled = np.where(rare, OTHER, labels.astype(object)).astype(str)
    return PooledLabels(pooled, len(kept) + int(rare.any()), len(values) - len(kept), int(rare.sum()))
