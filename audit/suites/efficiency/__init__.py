"""The efficiency suite (pillar: efficiency): compressed variants measured and re-audited against fp32."""

from audit.suites.efficiency.suite import EfficiencyParams, EfficiencySuite

__all__ = ["EfficiencyParams", "EfficiencySuite"]
