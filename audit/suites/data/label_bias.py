"""Label bias: the base rate of each label per sensitive group in training and audit rows, and the gap."""

from __future__ import annotations

import numpy as np

from audit.data.types import Dataset
from audit.suite import SuiteOutput
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import GroupRates, group_labels, group_rates
from audit.suites.data.sections import NamedSplit, named_splits, rounded
from audit.types import Measurement, Table

_WHY = {
    "train": "a label that differs by group teaches the model that difference.",
    "audit": "the group metrics of the other pillars are measured against these different base rates.",
}


def label_bias(data: Dataset, params: DataParams, seed: int) -> SuiteOutput:
    measurements, rows = [], []
    for s in named_splits(data.train, data.test):
        indicators, classes = _indicators(s, data)
        for i, attribute in enumerate(data.sensitive_attributes):
            rates = group_rates(indicators, group_labels(s.split.sensitive[attribute]), params.min_group_size,
                                params.resamples, seed + i)
            measurements.append(_gap_measurement(s, attribute, rates, classes, params))
            rows += [(s.name, attribute, label, int(rates.counts[g]), *(rounded(r) for r in rates.rates[g]),
                      bool(rates.eligible[g])) for g, label in enumerate(rates.labels)]
    _, classes = _indicators(named_splits(data.train, data.test)[0], data)
    table = Table(
        "label_base_rates", "Base rate of each label per sensitive group",
        ("split", "attribute", "group", "rows", *(f"share '{c}'" for c in classes), "large enough"), tuple(rows),
        caption=f"Groups with fewer than {params.min_group_size} rows do not enter the gap.",
    )
    return SuiteOutput(measurements=tuple(measurements), tables=(table,))


def _indicators(s: NamedSplit, data: Dataset) -> tuple[np.ndarray, tuple[str, ...]]:
    """Binary: is the label the favourable class; multiclass: one indicator per class."""
    y = s.split.y.numpy()
    if data.task == "binary":
        return (y == data.positive_class).astype(float), (data.class_names[data.positive_class],)
    return np.eye(data.n_classes)[y], data.class_names


def _gap_measurement(s: NamedSplit, attribute: str, rates: GroupRates, classes: tuple[str, ...],
                     params: DataParams) -> Measurement:
    reason = None
    if rates.eligible.sum() < 2:
        reason = f"fewer than two groups of {attribute} have {params.min_group_size} {s.name} rows"
    label = classes[rates.worst_indicator]
    return Measurement(
        f"base_rate_gap[{s.name},{attribute}]", rates.gap, rates.ci, False, int(rates.counts.sum()),
        f"Widest gap between groups of {attribute} in the share of {s.name} rows labelled '{label}' "
        f"(bootstrap 95% CI): {_WHY[s.name]}",
        {"label": label, "rates": {g: rounded(rates.rates[i, rates.worst_indicator])
                                   for i, g in enumerate(rates.labels)},
         "rows": {g: int(c) for g, c in zip(rates.labels, rates.counts, strict=True)},
         "resamples": params.resamples},
        reason,
    )
