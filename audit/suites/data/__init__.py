"""The data suite (pillar: data): representation, label bias, quality, leakage, label errors, shift."""

from audit.suites.data.params import DataParams
from audit.suites.data.suite import DataSuite

__all__ = ["DataParams", "DataSuite"]
