"""Per-row outcomes of the attacks, one column per measurement, for paired comparisons of two runs.

Each column is named exactly like the measurement it underlies, and that measurement is the column's mean
over the rows where it is not NaN (rows an attack did not see, or, for a success rate, rows the model got
wrong before any attack).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.suites.robustness import report
from audit.suites.robustness.sweep import AttackSetup, Outcome


def _on_all_rows(o: Outcome, n: int) -> np.ndarray:
    column = np.full(n, np.nan)
    column[np.arange(n) if o.rows is None else o.rows] = o.correct.astype(float)
    return column


def outcome_columns(setup: AttackSetup, outcomes: Sequence[Outcome], unit: str) -> dict[str, np.ndarray]:
    n, clean, image = setup.u.shape[0], setup.clean_correct, setup.is_image
    columns = {"clean_accuracy": clean.astype(float)}
    for o in outcomes:
        worst = o.attack == "worst-case"
        survived = _on_all_rows(o, n)
        columns[report.robust_accuracy(o, unit, image, variant=o.norm if worst else None).name] = survived
        if worst:
            columns[report.success_rate(o, clean, unit, image).name] = np.where(clean, 1.0 - survived, np.nan)
    return columns
