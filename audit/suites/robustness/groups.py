"""Robustness by sensitive group: is one group's correct predictions easier to overturn?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.stats import bootstrap_ci
from audit.suites.robustness.report import share_measurement
from audit.suites.robustness.sweep import Outcome
from audit.types import Measurement

GAP_RESAMPLES = 500


def _success_gap(values: np.ndarray, flipped: np.ndarray, groups: list[str]) -> float:
    rates = [flipped[values == g].mean() for g in groups if (values == g).any()]
    return float(max(rates) - min(rates)) if len(rates) >= 2 else float("nan")


def _gap_measurement(attr: str, values: np.ndarray, flipped: np.ndarray, groups: list[str], eps: float,
                     seed: int, insufficient: str | None, alpha: float) -> Measurement:
    gap = _success_gap(values, flipped, groups)
    ci = bootstrap_ci(lambda idx: _success_gap(values[idx], flipped[idx], groups), values.size, GAP_RESAMPLES, seed,
                      alpha)
    return Measurement(
        name=f"group_attack_success_gap[{attr}]", value=gap, ci=ci, higher_is_better=False, n=int(values.size),
        description=f"Largest difference between {attr} groups in how often the attack overturns a correct prediction.",
        details={"eps": eps, "groups": groups, "resamples": GAP_RESAMPLES, "seed": seed},
        insufficient_reason=insufficient,
    )


def group_measurements(sensitive: pd.DataFrame, attributes: tuple[str, ...], reference: Outcome,
                       clean: np.ndarray, min_rows: int, seed: int) -> list[Measurement]:
    """Per group: robust accuracy, attack success rate among correct rows; per attribute: the success gap. Intervals
    spend the reference outcome's error rate (its sequential look's share)."""
    out: list[Measurement] = []
    rows = reference.rows if reference.rows is not None else np.arange(clean.size)
    clean_rows = clean[rows]
    details = {"attack": reference.attack, "norm": reference.norm, "eps": reference.eps, "rows": int(rows.size)}
    alpha = reference.alpha
    for attr in attributes:
        if attr not in sensitive.columns:
            continue
        values = sensitive[attr].astype(str).to_numpy()[rows]
        groups = sorted(set(values))
        for g in groups:
            in_group = values == g
            out.append(share_measurement(
                f"group_robust_accuracy[{attr}={g}]", reference.correct[in_group],
                f"Share of rows with {attr}={g} still classified correctly under attack (ε={reference.eps:g}).",
                details, min_rows=min_rows, alpha=alpha))
            flipped = ~reference.correct[in_group & clean_rows]
            out.append(share_measurement(
                f"group_attack_success_rate[{attr}={g}]", flipped,
                f"Share of correctly classified rows with {attr}={g} that the attack (ε={reference.eps:g}) overturned.",
                details, higher_is_better=False, min_rows=min_rows, alpha=alpha))
        counted = [g for g in groups if int((values[clean_rows] == g).sum()) >= min_rows]
        small = None if len(counted) >= 2 else f"fewer than two {attr} groups have {min_rows} correctly classified rows"
        out.append(_gap_measurement(attr, values[clean_rows], ~reference.correct[clean_rows], counted or groups,
                                    reference.eps, seed, small, alpha))
    return out
