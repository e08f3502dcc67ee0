"""Shares, their intervals, and gaps between groups: the arithmetic every part of the data suite shares."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.stats import percentile_ci, wilson_interval

MISSING_GROUP = "missing"


def share_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, tuple[float, float]]:
    """p1 - p2 with Newcombe's hybrid score interval (method 10), built from the two Wilson intervals."""
    if n1 == 0 or n2 == 0:
        return float("nan"), (float("nan"), float("nan"))
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1), wilson_interval(k2, n2)
    d = p1 - p2
    return d, (d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(values, return_inverse=True)` for labels (strings, no NaN) by hashing rather than sorting every
    row: the same sorted values and codes, several times faster on tens of thousands of strings."""
    values = np.asarray(values)
    codes, uniques = pd.factorize(values.ravel(), sort=True)
    return np.asarray(uniques, dtype=values.dtype), codes.astype(np.intp)


def unique_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(table, axis=0, return_inverse=True)` for a 2-D numeric table without NaN: each row's column codes
    as one mixed-radix integer (first column most significant, so integer order is the rows' lexicographic
    order), then a 1-D unique of those integers. The same sorted rows and row codes, without a row-wise sort."""
    values, key, width = [], np.zeros(table.shape[0], np.int64), 1
    for column in table.T:
        uniques, codes = np.unique(column, return_inverse=True)
        width *= uniques.size
        if width >= 2**62:  # too many combinations for one integer: the row-wise unique
            cells, inverse = np.unique(table, axis=0, return_inverse=True)
            return cells, inverse.ravel()
        values.append(uniques)
        key = key * uniques.size + codes.ravel()
    keys, inverse = np.unique(key, return_inverse=True)
    cells = np.empty((keys.size, table.shape[1]), table.dtype)
    for j in range(table.shape[1] - 1, -1, -1):
        cells[:, j] = values[j][keys % values[j].size]
        keys = keys // values[j].size
    return cells, inverse.ravel()


def group_labels(column: pd.Series) -> np.ndarray:
    """Group labels as strings; a missing value is its own group rather than an error."""
    missing = column.isna().to_numpy()
    return column.astype(object).where(~missing, MISSING_GROUP).astype(str).to_numpy()


@dataclass(frozen=True)
class GroupRates:
    """Per-group rates of one or more per-row indicators, and the widest gap between adequate groups."""

    labels: tuple[str, ...]
    counts: np.ndarray  # (g,) rows per group
    rates: np.ndarray  # (g, k) mean of each indicator per group
    eligible: np.ndarray  # (g,) groups with at least the minimum rows
    gap: float  # max over indicators of (highest - lowest eligible group rate)
    ci: tuple[float, float]
    worst_indicator: int  # the indicator (class) where the gap is widest


def _gap(rates: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(..., g, k) rates -> (..., k) gap between eligible groups (NaN with fewer than two)."""
    if eligible.sum() < 2:
        return np.full(rates.shape[:-2] + rates.shape[-1:], np.nan)
    chosen = rates[..., eligible, :]
    return np.nanmax(chosen, axis=-2) - np.nanmin(chosen, axis=-2)


def group_rates(values: np.ndarray, labels: np.ndarray, min_size: int, resamples: int, seed: int) -> GroupRates:
    """Rates of `values` ((n,) or (n, k) indicators) per group of `labels`, with a bootstrap CI of the gap."""
    values = np.asarray(values, dtype=float).reshape(len(labels), -1)
    names, codes = unique_inverse(labels)
    onehot = np.eye(len(names))[codes]  # (n, g)
    counts = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = (onehot.T @ values) / counts[:, None]
    eligible = counts >= min_size
    point = _gap(rates, eligible)
    worst = int(np.nanargmax(point)) if np.isfinite(point).any() else 0
    samples = _bootstrap_gaps(values, onehot, eligible, resamples, seed) if np.isfinite(point).any() else np.array([])
    return GroupRates(
        labels=tuple(str(n) for n in names), counts=counts.astype(int), rates=rates, eligible=eligible,
        gap=float(np.nanmax(point)) if np.isfinite(point).any() else float("nan"),
        ci=percentile_ci(samples) if samples.size else (float("nan"), float("nan")), worst_indicator=worst,
    )


def _bootstrap_gaps(values: np.ndarray, onehot: np.ndarray, eligible: np.ndarray, resamples: int,
                    seed: int) -> np.ndarray:
    """The gap under row resamples. Every statistic here is a function of how many rows fall in each cell
    (group x pattern of indicator values), so a bootstrap of the n rows is a multinomial draw of the cell
    counts: the same distribution as resampling rows, at a cost independent of n."""
    if resamples == 0:
        return np.array([])
    n, g = onehot.shape
    cells, cell_of_row = unique_rows(np.hstack([onehot.argmax(axis=1)[:, None], values]))
    shares = np.bincount(cell_of_row.ravel(), minlength=len(cells)) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples).astype(float)  # (r, cells)
    cell_group = np.eye(g)[cells[:, 0].astype(int)]  # (cells, g)
    group_rows = counts @ cell_group  # (r, g)
    sums = np.einsum("rc,cg,ck->rgk", counts, cell_group, cells[:, 1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = sums / group_rows[:, :, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample may leave a small group empty
        return np.nanmax(_gap(rates, eligible), axis=-1)


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15))


def row_keys(rows: np.ndarray) -> np.ndarray:
    """A 64-bit content hash per row (bit-exact values; -0.0 and 0.0 hash alike): the float64 bit patterns,
    column by column, folded through splitmix64's finaliser (vectorised over rows; pandas' per-column hashing
    and combining cost several times more)."""
    flat = np.ascontiguousarray(rows.reshape(rows.shape[0], -1), dtype=np.float64) + 0.0
    bits = flat.view(np.uint64)
    h = np.full(bits.shape[0], _MIX[2])
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):
            h = (h ^ bits[:, j]) * _MIX[0] + _MIX[2]
            h ^= h >> np.uint64(30)
            h *= _MIX[1]
            h ^= h >> np.uint64(31)
    return h
