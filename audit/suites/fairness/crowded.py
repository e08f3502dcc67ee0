"""Axes with more groups than `max_groups`: not compared, reported as insufficient evidence with their counts.

A column of near-unique values (an ID, a free-text field, a fine-grained code) makes thousands of groups of
one or two rows: no gap between them means anything, and bootstrapping them costs time and memory that grow
with the number of groups. Such an axis costs one `bincount` here instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.suites.fairness.groups import GroupAxis
from audit.suites.fairness.measures import DisparitySpec, measurement_name
from audit.types import Measurement


def is_crowded(axis: GroupAxis, max_groups: int) -> bool:
    return len(axis.labels) > max_groups


def _reason(axis: GroupAxis, sizes: np.ndarray, max_groups: int, min_group_size: int) -> str:
    small = int((sizes < min_group_size).sum())
    return (f"{axis.name} has {len(sizes):,} groups, more than max_groups = {max_groups}, so they are not compared "
            f"({small:,} of them have fewer than {min_group_size} rows; the largest has {int(sizes.max()):,} rows). "
            "Pool rare values into fewer groups in the data, or raise max_groups under [suites.fairness].")


def crowded_measurements(axis: GroupAxis, specs: Sequence[DisparitySpec], max_groups: int,
                         min_group_size: int) -> tuple[tuple[Measurement, ...], str]:
    """One insufficient-evidence measurement per disparity (no value: nothing was compared), and a note."""
    sizes = np.bincount(axis.codes, minlength=len(axis.labels))
    reason = _reason(axis, sizes, max_groups, min_group_size)
    details = {"groups": len(sizes), "groups_below_min_size": int((sizes < min_group_size).sum()),
               "largest_group_size": int(sizes.max()), "max_groups": max_groups, "min_group_size": min_group_size}
    measurements = tuple(
        Measurement(name=measurement_name(spec.metric, axis), value=float("nan"), ci=None,
                    higher_is_better=spec.higher_is_better, n=int(sizes.sum()),
                    description=spec.sentence.format(axis=axis.name), details=details, insufficient_reason=reason)
        for spec in specs)
    return measurements, f"Not compared: {reason}"
