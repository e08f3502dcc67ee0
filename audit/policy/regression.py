"""Regression margins: `[tool.audit.regression] "accuracy.accuracy" = { max_drop = 0.01 }`.

A margin bounds how far a measurement may move against the baseline (candidate − baseline): `max_drop` for
figures where higher is better, `max_rise` for figures where lower is better. It is a non-inferiority test
judged on the 95% CI of the difference: the whole CI beyond the margin fails, the whole CI inside passes, a CI
that straddles it is insufficient evidence (which blocks a fail-severity gate). Keys match measurement keys like
the policy: `*` is the only wildcard and the most specific pattern wins; `{ off = true }` disables a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.errors import AuditInputError
from audit.policy import _pattern
from audit.types import Verdict

_KEYS = {"max_drop", "max_rise", "severity", "off"}

# Shipped defaults: the headline figures a release must not lose, each with a margin small enough to matter
# and large enough that run-to-run noise on a few thousand rows does not trip it.
DEFAULT_MARGINS: dict[str, dict[str, Any]] = {
    "accuracy.accuracy": {"max_drop": 0.01},
    "accuracy.balanced_accuracy": {"max_drop": 0.01},
    "accuracy.auroc": {"max_drop": 0.01},
    "accuracy.ece": {"max_rise": 0.02, "severity": "warn"},
    "fairness.dp_difference[*]": {"max_rise": 0.02},
    "fairness.equalized_odds_difference[*]": {"max_rise": 0.02},
    "fairness.equal_opportunity_difference[*]": {"max_rise": 0.02},
    "fairness.disparate_impact_ratio[*]": {"max_drop": 0.05},
    "robustness.robust_accuracy[*]": {"max_drop": 0.02, "severity": "warn"},
    "privacy.membership_auc[*]": {"max_rise": 0.02},
}


@dataclass(frozen=True)
class Margin:
    metric: str  # "suite.measurement" pattern
    max_drop: float | None = None
    max_rise: float | None = None
    severity: str = "fail"

    def bound_text(self) -> str:
        parts = []
        if self.max_drop is not None:
            parts.append(f"may drop by at most {self.max_drop:g}")
        if self.max_rise is not None:
            parts.append(f"may rise by at most {self.max_rise:g}")
        return " and ".join(parts)


@dataclass(frozen=True)
class RegressionPolicy:
    margins: tuple[Margin, ...]

    def match(self, key: str) -> Margin | None:
        hits = [m for m in self.margins if _pattern(m.metric).fullmatch(key)]
        return max(hits, key=lambda m: (-m.metric.count("*"), len(m.metric))) if hits else None


def parse_margins(table: Mapping[str, Any], origin: str) -> dict[str, Margin | None]:
    if not isinstance(table, Mapping):
        raise AuditInputError(f"{origin} must be a table of \"suite.metric\" = {{ max_drop = ... }}")
    parsed: dict[str, Margin | None] = {}
    for metric, spec in table.items():
        parsed[metric] = _margin(metric, spec, origin)
    return parsed


def _margin(metric: str, spec: Any, origin: str) -> Margin | None:
    if not isinstance(spec, Mapping):
        raise AuditInputError(f"{origin}: regression entry {metric!r} must be a table like {{ max_drop = 0.01 }}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise AuditInputError(f"{origin}: regression entry {metric!r} has unknown key(s) {sorted(unknown)}; "
                              "use max_drop, max_rise, severity or off")
    if spec.get("off"):
        return None
    drop, rise = spec.get("max_drop"), spec.get("max_rise")
    if drop is None and rise is None:
        raise AuditInputError(f"{origin}: regression entry {metric!r} needs max_drop or max_rise (or off = true)")
    for name, bound in (("max_drop", drop), ("max_rise", rise)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound < 0):
            raise AuditInputError(f"{origin}: regression entry {metric!r}: {name} must be a number >= 0, got {bound!r}")
    severity = spec.get("severity", "fail")
    if severity not in ("fail", "warn"):
        raise AuditInputError(f'{origin}: regression entry {metric!r}: severity must be "fail" or "warn"')
    return Margin(metric, None if drop is None else float(drop), None if rise is None else float(rise), severity)


def build_regression_policy(user: Mapping[str, Any], use_defaults: bool = True,
                            origin: str = "[tool.audit.regression]") -> RegressionPolicy:
    merged = parse_margins(DEFAULT_MARGINS, "default regression margins") if use_defaults else {}
    merged.update(parse_margins(user, origin))
    return RegressionPolicy(tuple(m for m in merged.values() if m is not None))


@dataclass(frozen=True)
class MarginJudgement:
    verdict: Verdict
    reason: str


def judge_difference(margin: Margin, difference: float, ci: tuple[float, float] | None) -> MarginJudgement:
    """Non-inferiority on the CI of (candidate − baseline)."""
    if ci is None or not all(math.isfinite(b) for b in ci) or not math.isfinite(difference):
        return MarginJudgement(Verdict.INSUFFICIENT_EVIDENCE, "no confidence interval of the difference")
    lo, hi = ci
    failing, straddling = [], []
    if margin.max_drop is not None:
        floor = -margin.max_drop
        if hi < floor:
            failing.append(f"dropped by {-difference:.4g} (95% CI of the change {lo:+.4g} to {hi:+.4g}), "
                           f"beyond the allowed drop of {margin.max_drop:g}")
        elif lo < floor:
            straddling.append(f"the 95% CI of the change ({lo:+.4g} to {hi:+.4g}) reaches past the allowed drop "
                              f"of {margin.max_drop:g}")
    if margin.max_rise is not None:
        ceiling = margin.max_rise
        if lo > ceiling:
            failing.append(f"rose by {difference:.4g} (95% CI of the change {lo:+.4g} to {hi:+.4g}), "
                           f"beyond the allowed rise of {margin.max_rise:g}")
        elif hi > ceiling:
            straddling.append(f"the 95% CI of the change ({lo:+.4g} to {hi:+.4g}) reaches past the allowed rise "
                              f"of {margin.max_rise:g}")
    if failing:
        verdict = Verdict.FAIL if margin.severity == "fail" else Verdict.WARN
        return MarginJudgement(verdict, "; ".join(failing))
    if straddling:
        return MarginJudgement(Verdict.INSUFFICIENT_EVIDENCE, "; ".join(straddling) + ": cannot rule out a regression")
    return MarginJudgement(Verdict.PASS, f"change {difference:+.4g} (95% CI {lo:+.4g} to {hi:+.4g}) is within the "
                                         f"margin: it {margin.bound_text()}")
