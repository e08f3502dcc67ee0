"""Group membership: which rows belong to which group, per attribute and per pairwise intersection."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.errors import AuditInputError

MISSING_GROUP = "missing"
INTERSECTION_SEP = "×"


@dataclass(frozen=True, eq=False)
class GroupAxis:
    """One way of splitting the rows into groups: a sensitive attribute or an intersection of two.

    `codes[i]` is the index in `labels` of row i's group; every label has at least one row.
    """

    name: str  # "sex" or "sex×race"
    parts: tuple[str, ...]  # the attributes it combines: ("sex",) or ("sex", "race")
    labels: tuple[str, ...]
    codes: np.ndarray  # (n,) int

    @property
    def is_intersection(self) -> bool:
        return len(self.parts) > 1

    def membership(self) -> np.ndarray:
        """(groups, n) boolean matrix; row g marks the members of group g."""
        return self.codes[None, :] == np.arange(len(self.labels))[:, None]


def attribute_columns(
    sensitive: pd.DataFrame, requested: tuple[str, ...], missing_as_group: bool
) -> dict[str, np.ndarray]:
    """Each requested sensitive column as an array of group-label strings (validated)."""
    available = list(sensitive.columns)
    names = requested or tuple(available)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name not in sensitive.columns:
            raise AuditInputError(
                f"Sensitive attribute '{name}' is not in the data; "
                f"available: {', '.join(map(str, available)) or 'none'}. "
                "Fix `attributes` under [tool.audit.suites.fairness] or the data's sensitive columns."
            )
        columns[name] = _labels_of(sensitive[name], name, missing_as_group)
    return columns


def _labels_of(column: pd.Series, name: str, missing_as_group: bool) -> np.ndarray:
    missing = column.isna().to_numpy()
    if missing.any() and not missing_as_group:
        raise AuditInputError(
            f"Sensitive attribute '{name}' has {int(missing.sum())} missing value(s) (NaN). Drop or fill those "
            "rows, or set `missing_as_group = true` under [tool.audit.suites.fairness] to report them as a "
            f"'{MISSING_GROUP}' group."
        )
    labels = column.astype(object).where(~missing, MISSING_GROUP).astype(str).to_numpy()
    return labels


def build_axes(columns: dict[str, np.ndarray], intersections: bool) -> tuple[list[GroupAxis], list[str]]:
    """Axes for every attribute with two or more groups, plus pairwise intersections of those.

    Returns the axes and the names of attributes dropped because they hold a single group.
    """
    usable = {name: labels for name, labels in columns.items() if len(np.unique(labels)) >= 2}
    single = [name for name in columns if name not in usable]
    axes = [_axis((name,), labels) for name, labels in usable.items()]
    if intersections:
        for a, b in itertools.combinations(usable, 2):
            combined = np.char.add(np.char.add(usable[a].astype(str), INTERSECTION_SEP), usable[b].astype(str))
            axes.append(_axis((a, b), combined))
    return axes, single


def _axis(parts: tuple[str, ...], labels: np.ndarray) -> GroupAxis:
    uniques, codes = np.unique(labels, return_inverse=True)
    return GroupAxis(
        name=INTERSECTION_SEP.join(parts),
        parts=parts,
        labels=tuple(str(u) for u in uniques),
        codes=codes.astype(np.int64),
    )
