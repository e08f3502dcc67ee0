"""Parameters of the data suite (every field typed, defaulted, bounded and JSON-able)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from audit.suite import bounded


@dataclass(frozen=True)
class DataParams:
    """Overridable under [tool.audit.suites.data]; the runner records them in the scorecard."""

    # Expected share of each group, e.g. { sex = { Female = 0.51 } }; groups not listed are not compared.
    reference: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    min_group_size: int = bounded(30, min=1)  # smaller groups are named; their gaps are insufficient evidence
    resamples: int = bounded(1000, min=1)  # bootstrap resamples for every bootstrap CI
    near_constant_share: float = bounded(0.99, min=0.5, max=1.0)  # commonest value's share: near-constant column
    near_duplicate_tolerance: float = bounded(0.01, min=0.0)  # numeric columns rounded to this many training SDs
    label_errors: bool = True
    label_error_folds: int = bounded(5, min=2, max=20)
    label_error_max_rows: int = bounded(5_000, min=50)  # training rows cross-validated (stratified sample beyond)
    label_error_max_images: int = bounded(1_000, min=50)  # the same for images (a CNN per fold costs far more)
    shift_alpha: float = bounded(0.05, min=0.0, max=1.0)  # false discovery rate of the per-feature tests (BH)
    shift_min_effect: float = bounded(0.05, min=0.0, max=1.0)  # KS distance / total variation a flag needs
    psi_bins: int = bounded(10, min=2, max=100)  # training-quantile bins for a numeric feature's PSI
    image_components: int = bounded(20, min=1, max=200)  # pixel PCA components that stand for an image
    domain_max_rows: int = bounded(10_000, min=50)  # rows per side (training, audit) for the domain classifier
    domain_iterations: int = bounded(100, min=1, max=1000)  # boosting rounds of the domain classifier
    # held-out rows per cross-fitting half on which each top feature is shuffled (the importance column ranks
    # features; it is not a gated figure)
    domain_importance_rows: int = bounded(2_500, min=10)
    unlike_share: float = bounded(0.1, min=0.01, max=0.5)  # audit rows with the highest domain score
    top_features: int = bounded(10, min=1)  # rows of the top-separating-features table

    def conflicts(self) -> list[str]:
        """The shape of `reference`, checked before the model loads (its attribute names need the data)."""
        for attribute, shares in self.reference.items():
            if not isinstance(shares, Mapping) or not shares:
                return [f"reference.{attribute} must be a table of group shares like {{ Female = 0.51 }}"]
            bad = [g for g, v in shares.items() if isinstance(v, bool) or not isinstance(v, int | float)
                   or not 0 < v <= 1]
            if bad:
                return [f"reference.{attribute}.{bad[0]} = {shares[bad[0]]!r}; a share must be a number in (0, 1]"]
            if sum(shares.values()) > 1 + 1e-9:
                return [f"reference.{attribute}: the shares add up to {sum(shares.values()):g}, more than 1"]
        return []
