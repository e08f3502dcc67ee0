"""Bootstrap of measurement differences: the same resampled rows for both models (paired), or independent
resamples of each run (unpaired). Resamples come from audit.stats in chunks, so memory stays bounded."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from audit.compare.significance import bootstrap_p_value
from audit.compare.statistics import EvidenceStatistics, Resample
from audit.evidence import LoadedEvidence
from audit.stats import iter_resample_counts, percentile_ci, resample_counts

CHUNK = 250  # resamples per block: (250, n) float64 multiplicities are 40 MB for 20,000 rows


@dataclass(frozen=True)
class Tested:
    """The bootstrap outcome for one measurement."""

    baseline: float
    candidate: float
    ci: tuple[float, float]
    p_value: float
    resamples_used: int  # resamples where both figures were defined
    mcnemar: tuple[int, int, float] | None = None  # accuracy: (only baseline right, only candidate right, exact p)


def suite_seed(seed: int, suite: str, stream: int = 0) -> list[int]:
    """The seed of one suite's resamples: stable across runs, distinct between suites (and unpaired streams)."""
    return [seed, zlib.crc32(suite.encode()), stream]


def resample_stream(n: int, resamples: int, rng: np.random.Generator,
                    strata: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """(chunk, n) bootstrap multiplicities; with `strata`, each stratum is resampled within itself (privacy keeps
    as many members as non-members in every resample, as its own CIs do)."""
    dtype = np.int16 if n < 2**15 else np.int32  # a count never exceeds n
    if strata is None:
        yield from iter_resample_counts(n, resamples, rng, chunk=CHUNK, dtype=dtype)
        return
    groups = [np.flatnonzero(strata == v) for v in np.unique(strata)]
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        counts = np.zeros((size, n), dtype=dtype)
        for rows in groups:
            counts[:, rows] = resample_counts(rows.size, size, rng, dtype=dtype)  # continues the same stream
        yield counts


def _strata(ev: LoadedEvidence) -> np.ndarray | None:
    column = ev.meta.get("strata")
    return ev.column(str(column)) if column else None


def bootstrap_differences(
    suite: str, names: list[str], base: tuple[LoadedEvidence, EvidenceStatistics],
    cand: tuple[LoadedEvidence, EvidenceStatistics], resamples: int, seed: int, paired: bool,
) -> dict[str, Tested]:
    """Point figures, CI and p-value of candidate − baseline for each name, from one pass over the resamples."""
    (ev_b, st_b), (ev_c, st_c) = base, cand
    n_b, n_c = len(ev_b.frame), len(ev_c.frame)
    point_b, point_c = st_b.evaluate(Resample.point(n_b)), st_c.evaluate(Resample.point(n_c))
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    if paired:
        stream = resample_stream(n_b, resamples, np.random.default_rng(suite_seed(seed, suite)), _strata(ev_b))
        pairs = ((w, w) for w in map(Resample, stream))
    else:
        pairs = zip(map(Resample, resample_stream(n_b, resamples, np.random.default_rng(suite_seed(seed, suite, 1)),
                                                  _strata(ev_b))),
                    map(Resample, resample_stream(n_c, resamples, np.random.default_rng(suite_seed(seed, suite, 2)),
                                                  _strata(ev_c))), strict=True)
    for w_b, w_c in pairs:
        values_b, values_c = st_b.evaluate(w_b), st_c.evaluate(w_c)
        for name in names:
            diffs[name].append(values_c[name] - values_b[name])
    out = {}
    for name in names:
        d = np.concatenate(diffs[name])
        out[name] = Tested(float(point_b[name][0]), float(point_c[name][0]), percentile_ci(d), bootstrap_p_value(d),
                           int(np.isfinite(d).sum()))
    return out
