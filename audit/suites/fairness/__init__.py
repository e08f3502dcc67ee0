"""Fairness suite: how the model's outcomes and errors differ across sensitive groups."""

from audit.suites.fairness.suite import FairnessParams, FairnessSuite

__all__ = ["FairnessParams", "FairnessSuite"]
