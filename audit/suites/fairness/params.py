"""Parameters of the fairness suite (every field typed, defaulted and JSON-able)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FairnessParams:
    """Overridable under [tool.audit.suites.fairness]; the runner records them in the scorecard."""

    attributes: tuple[str, ...] = ()  # sensitive columns to audit; empty = all of the data's
    intersections: bool = True  # also audit pairwise intersections (sex×race)
    missing_as_group: bool = False  # NaN in a sensitive column: a "missing" group instead of an error
    min_group_size: int = 30  # smaller groups are insufficient evidence
    min_outcome_count: int = 10  # favourable/unfavourable labels a group needs for TPR/FPR-based figures
    resamples: int = 1000  # bootstrap resamples for every CI
    flip_test: bool = True
    flip_max_values: int = 10  # numeric sensitive inputs with more distinct values are not flip-tested
    proxies: bool = True
    proxy_top_k: int = 5
    proxy_max_rows: int = 20_000  # rows per side (fit / held-out) for the proxy classifier
    proxy_min_auroc: float = 0.6  # inputs predicting an attribute above this (CI low end) hold proxies worth listing
    proxy_min_share: float = 0.10  # ... namely its features with at least this share of the importance
    mitigation: bool = True
