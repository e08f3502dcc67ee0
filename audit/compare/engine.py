"""Compare a candidate run with its baseline: test every measurement both emit, control the FDR, gate regressions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from audit import gating
from audit.compare import types as ct
from audit.compare.bootstrap import Tested, bootstrap_differences
from audit.compare.gate import regression_checks
from audit.compare.runs import LoadedRun, pairing_problems
from audit.compare.significance import benjamini_hochberg, mcnemar_exact, unpaired_from_cis
from audit.compare.statistics import statistics_for
from audit.errors import AuditInputError
from audit.evidence import LoadedEvidence
from audit.policy.regression import RegressionPolicy, build_regression_policy
from audit.policy.waivers import Waiver, apply_waivers, waiver_report
from audit.types import Measurement, SuiteStatus, Verdict

ALPHA = 0.05
_REPRODUCE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CompareSettings:
    resamples: int = 1000
    seed: int = 0
    unpaired: bool = False
    regression: RegressionPolicy = field(default_factory=lambda: build_regression_policy({}))
    waivers: tuple[Waiver, ...] = ()
    today: dt.date | None = None


def compare_runs(baseline: LoadedRun, candidate: LoadedRun, settings: CompareSettings) -> ct.Comparison:
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    # Many mid-sized products: multi-threaded BLAS on a busy 2-core runner spins rather than helps.
    with threadpool_limits(limits=1, user_api="blas"):
        return _compare(baseline, candidate, settings)


def _compare(baseline: LoadedRun, candidate: LoadedRun, settings: CompareSettings) -> ct.Comparison:
    problems = pairing_problems(baseline, candidate)
    if problems and not settings.unpaired:
        raise AuditInputError("cannot pair these runs: " + "; ".join(problems) + ". Audit both models on the same "
                              "data, or pass --unpaired to compare them with unpaired tests")
    paired = not problems
    notes = [] if paired else ["Unpaired comparison (--unpaired): " + "; ".join(problems) + "."]
    base_ms, cand_ms = _measurements(baseline), _measurements(candidate)
    tested = {}
    for suite in sorted({k.split(".", 1)[0] for k in base_ms} & {k.split(".", 1)[0] for k in cand_ms}):
        tested.update(_test_suite(suite, baseline, candidate, base_ms, cand_ms, settings, paired, notes))
    rows = [_compare_one(key, base_ms.get(key), cand_ms.get(key), tested.get(key), paired)
            for key in _ordered_keys(base_ms, cand_ms)]
    rows = _with_fdr(rows)
    checks = apply_waivers(regression_checks(rows, settings.regression), settings.waivers, settings.today)
    verdict = gating.worst(c.verdict for c in checks) or Verdict.PASS
    exit_code = gating.EXIT_GATE_FAILED if any(gating.is_blocking(c) for c in checks) else gating.EXIT_OK
    return ct.Comparison(
        schema_version=ct.COMPARISON_SCHEMA_VERSION, baseline=_ref(baseline), candidate=_ref(candidate),
        paired=paired, resamples=settings.resamples, seed=settings.seed, alpha=ALPHA, measurements=tuple(rows),
        checks=tuple(checks), waivers=tuple(waiver_report(settings.waivers, checks, settings.today)),
        notes=tuple(notes), verdict=verdict, exit_code=exit_code,
    )


def _measurements(run: LoadedRun) -> dict[str, Measurement]:
    return {f"{r.suite}.{m.name}": m for r in run.scorecard.results if r.status is SuiteStatus.OK
            for m in r.measurements}


def _ordered_keys(base: dict[str, Measurement], cand: dict[str, Measurement]) -> list[str]:
    return list(dict.fromkeys([*cand, *base]))


def _test_suite(suite: str, baseline: LoadedRun, candidate: LoadedRun, base_ms: dict[str, Measurement],
                cand_ms: dict[str, Measurement], settings: CompareSettings, paired: bool,
                notes: list[str]) -> dict[str, Tested]:
    ev_b, ev_c = baseline.evidence.get(suite), candidate.evidence.get(suite)
    if ev_b is None or ev_c is None:
        return {}
    if paired and ev_b.rows_sha256 != ev_c.rows_sha256:
        notes.append(f"{suite}: the runs audited different rows (another seed or row budget), so its figures are "
                     "compared from their CIs, not paired-tested.")
        return {}
    prefix = f"{suite}."
    common = [k[len(prefix):] for k in cand_ms if k.startswith(prefix) and k in base_ms]
    st_b, st_c = statistics_for(ev_b, common), statistics_for(ev_c, common)
    names = [n for n in common if n in st_b.names and n in st_c.names]
    if not names:
        return {}
    found = bootstrap_differences(suite, names, (ev_b, st_b), (ev_c, st_c), settings.resamples, settings.seed, paired)
    out: dict[str, Tested] = {}
    for name, result in found.items():
        key = prefix + name
        if not (_reproduces(result.baseline, base_ms[key].value) and _reproduces(result.candidate, cand_ms[key].value)):
            notes.append(f"{key}: the per-row evidence does not reproduce the scorecard figure, so it is compared "
                         "from the CIs instead.")
            continue
        out[key] = result
    if paired and suite == "accuracy" and "accuracy.accuracy" in out:
        out["accuracy.accuracy"] = dataclasses.replace(out["accuracy.accuracy"], mcnemar=_mcnemar(ev_b, ev_c))
    return out


def _mcnemar(ev_b: LoadedEvidence, ev_c: LoadedEvidence) -> tuple[int, int, float]:
    return mcnemar_exact(ev_b.column("label") == ev_b.column("predicted"),
                         ev_c.column("label") == ev_c.column("predicted"))


def _reproduces(recomputed: float, recorded: float) -> bool:
    if not (math.isfinite(recomputed) and math.isfinite(recorded)):
        return math.isnan(recomputed) == math.isnan(recorded)
    return abs(recomputed - recorded) <= _REPRODUCE_TOLERANCE * (1 + abs(recorded))


def _side(m: Measurement | None) -> ct.Side:
    if m is None:
        return ct.Side(None)
    value = m.value if m.value is not None and math.isfinite(m.value) else None
    return ct.Side(value, m.ci, m.n, m.insufficient_reason)


def _compare_one(key: str, base: Measurement | None, cand: Measurement | None, tested: Tested | None,
                 paired: bool) -> ct.ComparedMeasurement:
    suite = key.split(".", 1)[0]
    b, c = _side(base), _side(cand)
    hib = (cand or base).higher_is_better
    details: dict = {}
    if tested is not None and tested.mcnemar is not None:
        only_b, only_c, p_mcnemar = tested.mcnemar
        details = {"discordant_baseline_only": only_b, "discordant_candidate_only": only_c,
                   "bootstrap_p_value": tested.p_value}
        method, ci, p = ct.MCNEMAR, tested.ci, p_mcnemar
    elif tested is not None:
        method = ct.PAIRED_BOOTSTRAP if paired else ct.UNPAIRED_BOOTSTRAP
        ci, p = tested.ci, tested.p_value
        details = {"resamples_defined": tested.resamples_used}
    elif b.value is not None and c.value is not None:
        ci, p = unpaired_from_cis(b.value, b.ci, c.value, c.ci)
        method = ct.FROM_CIS if ci is not None else ct.NOT_TESTED
    else:
        ci, p, method = None, None, ct.NOT_TESTED
    diff = c.value - b.value if b.value is not None and c.value is not None else None
    if ci is not None and not all(math.isfinite(v) for v in ci):
        ci = None
    return ct.ComparedMeasurement(
        key=key, suite=suite, baseline=b, candidate=c, difference=diff, ci=ci,
        p_value=None if p is None or not math.isfinite(p) else p, p_adjusted=None, method=method,
        higher_is_better=hib, direction=_direction(diff, hib), significant=False, details=details,
    )


def _direction(diff: float | None, higher_is_better: bool | None) -> str:
    if diff is None:
        return "unknown"
    if diff == 0:
        return "unchanged"
    if higher_is_better is None:
        return "changed"
    return "better" if (diff > 0) == higher_is_better else "worse"


def _with_fdr(rows: Sequence[ct.ComparedMeasurement]) -> list[ct.ComparedMeasurement]:
    adjusted = benjamini_hochberg([r.p_value for r in rows])
    return [dataclasses.replace(r, p_adjusted=q, significant=q is not None and q < ALPHA and r.direction
                                not in ("unchanged", "unknown")) for r, q in zip(rows, adjusted, strict=True)]


def _ref(run: LoadedRun) -> ct.RunRef:
    sc = run.scorecard
    return ct.RunRef(str(run.path), sc.run.model, sc.run.dataset, sc.provenance.data_sha256,
                     sc.provenance.model_sha256, sc.run.started_at, sc.exit_code, sc.verdict.value)
