"""The explainability suite (pillar: explainability): SHAP attributions and how far to trust them."""

from audit.suites.explainability.suite import ExplainabilityParams, ExplainabilitySuite

__all__ = ["ExplainabilityParams", "ExplainabilitySuite"]
