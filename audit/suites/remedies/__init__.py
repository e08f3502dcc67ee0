"""The remedies suite: train each remedy from the model's recipe and re-audit it side by side with the original."""

from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.suite import RemediesSuite

__all__ = ["RemediesParams", "RemediesSuite"]
