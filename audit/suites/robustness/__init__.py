"""The robustness suite: adversarial and natural perturbations, with checks that the evaluation is valid."""

from audit.suites.robustness.params import RobustnessParams
from audit.suites.robustness.suite import RobustnessSuite

__all__ = ["RobustnessParams", "RobustnessSuite"]
