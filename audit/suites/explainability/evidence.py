"""Per explained row: the attribution on the features each reliance figure counts, and the row's total, so a
paired comparison can resample rows (a reliance share is the ratio of the two columns' means)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.types import Measurement

RATIO_NUMERATOR, RATIO_DENOMINATOR = "#num", "#den"


def _counted(m: Measurement, by_name: dict[str, int]) -> list[int] | None:
    """Group indices a reliance measurement counts, from what it records about itself."""
    if m.name == "sensitive_reliance":
        names = m.details.get("sensitive_inputs", [])
    elif m.name.startswith("sensitive_reliance["):
        names = [m.name[len("sensitive_reliance["):-1]]
    elif m.name.startswith("proxy_reliance["):
        names = m.details.get("proxies", [])
    else:
        return None
    found = [by_name[n] for n in names if n in by_name]
    return found if len(found) == len(names) else None


def reliance_columns(signed: np.ndarray, group_names: Sequence[str],
                     measurements: Sequence[Measurement]) -> dict[str, np.ndarray]:
    abs_rows = np.abs(signed)
    total = abs_rows.sum(axis=-1)
    by_name = {name: i for i, name in enumerate(group_names)}
    columns = {}
    for m in measurements:
        counted = _counted(m, by_name)
        if counted is not None:
            columns[m.name + RATIO_NUMERATOR] = abs_rows[:, counted].sum(axis=-1)
            columns[m.name + RATIO_DENOMINATOR] = total
    return columns
