"""Parameters of the fairness suite (every field typed, defaulted, bounded and JSON-able)."""

from __future__ import annotations

from dataclasses import dataclass

from audit.suite import bounded


@dataclass(frozen=True)
class FairnessParams:
    """Overridable under [tool.audit.suites.fairness]; the runner records them in the scorecard."""

    attributes: tuple[str, ...] = ()  # sensitive columns to audit; empty = all of the data's
    intersections: bool = True  # also audit pairwise intersections (sex×race)
    missing_as_group: bool = False  # NaN in a sensitive column: a "missing" group instead of an error
    min_group_size: int = bounded(30, min=1)  # smaller groups are insufficient evidence
    # favourable/unfavourable labels a group needs for TPR/FPR-based figures
    min_outcome_count: int = bounded(10, min=1)
    # an attribute (or intersection) with more groups is not compared: insufficient evidence, with its counts
    max_groups: int = bounded(50, min=2)
    resamples: int = bounded(1000, min=1)  # bootstrap resamples for every CI
    flip_test: bool = True
    flip_max_values: int = bounded(10, min=2)  # sensitive inputs with more values are not flip-tested
    proxies: bool = True
    proxy_top_k: int = bounded(5, min=1)
    proxy_max_rows: int = bounded(20_000, min=10)  # rows per side (fit / held-out) for the proxy classifier
    # the proxy classifier learns at most this many values of an attribute, each with at least min_group_size
    # rows; rarer values are pooled into one "other" class (the report says so)
    proxy_max_classes: int = bounded(20, min=2)
    # inputs predicting an attribute above this (CI low end) hold proxies worth listing
    proxy_min_auroc: float = bounded(0.6, min=0.0, max=1.0)
    proxy_min_share: float = bounded(0.10, min=0.0, max=1.0)  # ... namely its features with this importance share
    mitigation: bool = True
