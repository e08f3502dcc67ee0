"""Per test row: is each variant right, and does it agree with fp32? One column per measurement (its mean), for
paired comparisons of two runs (audit compare)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.suites.efficiency.figures import DEPLOYABLE, Reference
from audit.suites.efficiency.measure import VariantResult


def drift_columns(results: Sequence[VariantResult], ref: Reference, deployable: str) -> dict[str, np.ndarray]:
    base = results[0]
    base_correct = (base.pred == ref.y_test).astype(float)
    columns = {f"accuracy[{base.variant.name}]": base_correct}
    for r in results[1:]:
        correct = (r.pred == ref.y_test).astype(float)
        columns[f"accuracy[{r.variant.name}]"] = correct
        for label in (r.variant.name, *((DEPLOYABLE,) if r.variant.name == deployable else ())):
            columns[f"accuracy_drop[{label}]"] = base_correct - correct
            columns[f"prediction_agreement[{label}]"] = (base.pred == r.pred).astype(float)
    return columns
