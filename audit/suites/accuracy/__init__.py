"""The accuracy suite (pillar: accuracy and calibration)."""

from audit.suites.accuracy.suite import AccuracyParams, AccuracySuite

__all__ = ["AccuracyParams", "AccuracySuite"]
