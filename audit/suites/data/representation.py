"""Representation: each sensitive group's share of the training and audit rows, against reference shares."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.stats import wilson_interval
from audit.suite import SuiteOutput
from audit.suites.data.params import DataParams
from audit.suites.data.proportions import group_labels, unique_inverse
from audit.suites.data.sections import NamedSplit, named_splits, rounded
from audit.suites.data.shift import chi_squared, counts_ci, tvd_from_counts
from audit.types import Measurement, Table


def check_reference(params: DataParams, data: Dataset) -> None:
    """Every reference names a sensitive attribute of this data and has a valid shape."""
    for attribute in params.reference:
        if attribute not in data.sensitive_attributes:
            raise AuditInputError(
                f"data.reference names {attribute!r}, which is not a sensitive attribute of this data "
                f"(available: {', '.join(data.sensitive_attributes) or 'none'}); fix [tool.audit.suites.data]."
            )
    for problem in params.conflicts():
        raise AuditInputError(f"data: {problem} (fix [tool.audit.suites.data]).")


def representation(data: Dataset, params: DataParams, rng: np.random.Generator) -> SuiteOutput:
    check_reference(params, data)
    measurements: list[Measurement] = []
    rows: list[tuple] = []
    small: list[str] = []
    for attribute in data.sensitive_attributes:
        splits = named_splits(data.train, data.test)
        counts = {s.name: _counts(s, attribute) for s in splits}
        groups = sorted(set().union(*counts.values()))
        reference = params.reference.get(attribute, {})
        for group in groups:
            row: list = [attribute, group]
            for s in splits:
                n = len(s.split)
                k = counts[s.name].get(group, 0)
                measurements.append(_share(s.name, attribute, group, k, n))
                if group in reference:
                    measurements.append(_reference_ratio(s.name, attribute, group, k, n, float(reference[group])))
                lo, hi = wilson_interval(k, n)
                row += [k, rounded(k / n), f"[{lo:.3f}, {hi:.3f}]"]
                if k < params.min_group_size:
                    small.append(f"{attribute}={group} ({k} {s.name} rows)")
            rows.append((*row, reference.get(group)))
        for group in sorted(set(reference) - set(groups)):  # a reference group absent from the data is a finding
            for s in splits:
                measurements.append(_reference_ratio(s.name, attribute, group, 0, len(s.split), reference[group]))
        if len(splits) == 2:
            measurements.append(_composition(attribute, groups, counts["train"], counts["audit"], params, rng))
    measurements.append(Measurement(
        "small_groups", float(len(small)), None, False, len(data.test),
        f"Sensitive groups with fewer than {params.min_group_size} rows in a split: too small to audit.",
        {"groups": small, "min_group_size": params.min_group_size},
    ))
    split_names = tuple(s.name for s in named_splits(data.train, data.test))
    return SuiteOutput(measurements=tuple(measurements), tables=(_table(rows, split_names),), notes=_notes(small))


def _counts(s: NamedSplit, attribute: str) -> dict[str, int]:
    labels, codes = unique_inverse(group_labels(s.split.sensitive[attribute]))
    counts = np.bincount(codes, minlength=labels.size)
    return {str(label): int(c) for label, c in zip(labels, counts, strict=True)}


def _share(split: str, attribute: str, group: str, k: int, n: int) -> Measurement:
    return Measurement(
        f"share[{split},{attribute}={group}]", k / n if n else float("nan"), wilson_interval(k, n), None, n,
        f"Share of the {split} rows in group {attribute}={group} (95% Wilson interval).", {"rows": k},
    )


def _reference_ratio(split: str, attribute: str, group: str, k: int, n: int, reference: float) -> Measurement:
    lo, hi = wilson_interval(k, n)
    p_value = float(sps.binomtest(k, n, reference).pvalue) if n else float("nan")
    return Measurement(
        f"reference_ratio[{split},{attribute}={group}]", (k / n) / reference if n else float("nan"),
        (lo / reference, hi / reference), None, n,
        f"The group's share of the {split} rows divided by its reference share {reference:g} (1 = as expected; "
        "interval from the 95% Wilson interval of the share; exact binomial test in the details).",
        {"rows": k, "reference_share": reference, "binomial_test_p": p_value},
    )


def _composition(attribute: str, groups: list[str], train: dict[str, int], audit: dict[str, int],
                 params: DataParams, rng: np.random.Generator) -> Measurement:
    """How differently the groups make up the training and the audit rows (chi-squared test in details)."""
    expected = np.array([train.get(g, 0) for g in groups], dtype=float)
    actual = np.array([audit.get(g, 0) for g in groups], dtype=float)
    statistic, p_value = chi_squared(expected, actual)
    return Measurement(
        f"composition_difference[{attribute}]", float(tvd_from_counts(expected, actual)),
        counts_ci(expected, actual, tvd_from_counts, params.resamples, rng), False, int(actual.sum()),
        f"Total variation distance between the {attribute} make-up of the training and of the audit rows (0: the "
        "same shares); bootstrap 95% CI, Pearson chi-squared test in the details.",
        {"chi_squared": rounded(statistic), "p_value": p_value},
    )


def _table(rows: list[tuple], splits: tuple[str, ...]) -> Table:
    per_split = [f"{s} {what}" for s in splits for what in ("rows", "share", "95% CI")]
    return Table(
        "representation", "Sensitive groups: rows and shares per split",
        ("attribute", "group", *per_split, "reference share"),
        tuple(rows), caption="Wilson intervals; reference shares come from [tool.audit.suites.data] reference.",
    )


def _notes(small: list[str]) -> tuple[str, ...]:
    if not small:
        return ()
    return ("Groups too small to audit: " + "; ".join(small) + ".",)
