"""Fairness suite: how the model's outcomes and errors differ across sensitive groups."""

from audit.suites.fairness.params import FairnessParams
from audit.suites.fairness.suite import FairnessSuite

__all__ = ["FairnessParams", "FairnessSuite"]
