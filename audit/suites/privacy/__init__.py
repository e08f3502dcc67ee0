"""Privacy suite: membership and attribute inference, with an empirical differential-privacy ε bound."""

from audit.suites.privacy.suite import PrivacyParams, PrivacySuite

__all__ = ["PrivacyParams", "PrivacySuite"]
