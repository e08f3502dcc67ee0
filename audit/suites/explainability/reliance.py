"""Reliance on sensitive attributes: the share of total mean |SHAP| that falls on them or their proxies."""

from __future__ import annotations

import numpy as np

from audit.stats import bootstrap_indices, percentile_ci
from audit.suite import Output
from audit.suites.explainability.groups import FeatureGroup
from audit.types import Table

# What this suite reads from the fairness suite (declared in ExplainabilitySuite.reads).
PROXIES = Output("fairness", "proxies")  # table: attribute, feature, importance
PROXY_AUROC = Output("fairness", "proxy_auroc[*]")  # how well the inputs predict each attribute


def share(abs_rows: np.ndarray, mask: np.ndarray, resamples: int, seed: int) -> tuple[float, tuple[float, float]]:
    """Share of total mean |SHAP| on the groups in `mask`, with a bootstrap CI over explained rows."""
    def ratio(rows: np.ndarray) -> np.ndarray:
        total = rows.sum(axis=-1).mean(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, rows[..., mask].sum(axis=-1).mean(axis=-1) / total, 0.0)

    idx = bootstrap_indices(len(abs_rows), resamples, seed)
    return float(ratio(abs_rows)), percentile_ci(ratio(abs_rows[idx]))


def sensitive_groups(groups: tuple[FeatureGroup, ...]) -> dict[str, list[int]]:
    """Sensitive features used as model inputs: feature name -> group index."""
    return {g.name: [i] for i, g in enumerate(groups) if g.sensitive}


def proxy_groups(table: Table | None, groups: tuple[FeatureGroup, ...],
                 feature_names: tuple[str, ...]) -> dict[str, list[int]] | None:
    """Proxies the fairness suite found (its PROXIES table), per sensitive attribute -> group indices; None when
    there is no such table.

    The proxy table names either an original feature or a model-input column; both map to a group.
    Features that are themselves sensitive are left out (they count as direct reliance).
    """
    if table is None:
        return None
    col = {name: i for i, name in enumerate(table.columns)}
    if not {"attribute", "feature"} <= set(col):
        return None
    by_name = {g.name: i for i, g in enumerate(groups)}
    by_column = {feature_names[c]: i for i, g in enumerate(groups) for c in g.columns if c < len(feature_names)}
    found: dict[str, list[int]] = {}
    for row in table.rows:
        attribute, feature = str(row[col["attribute"]]), str(row[col["feature"]])
        index = by_name.get(feature, by_column.get(feature))
        if index is not None and not groups[index].sensitive and index not in found.get(attribute, []):
            found.setdefault(attribute, []).append(index)
    return found


def mask_of(indices: list[int], n_groups: int) -> np.ndarray:
    mask = np.zeros(n_groups, dtype=bool)
    mask[indices] = True
    return mask
