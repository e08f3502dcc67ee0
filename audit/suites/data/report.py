"""Measurements, tables and the chart of the shift part (data only; renderers draw them)."""

from __future__ import annotations

from audit.suite import SuiteOutput
from audit.suites.data.domain import DomainScores
from audit.suites.data.params import DataParams
from audit.suites.data.sections import rounded
from audit.suites.data.shift import FeatureShift
from audit.types import Chart, Measurement, Series, Table

HEADLINE = ("shift_auc_lower_bound", "shift_auc", "shifted_features")  # reported as insufficient when skipped


def shift_section(shifts: list[FeatureShift], domain: DomainScores, importance: dict[str, float], n_audit: int,
                  params: DataParams) -> SuiteOutput:
    flagged = [s.name for s in shifts if s.flagged]
    measurements = [_psi(s, n_audit) for s in shifts]
    measurements.append(Measurement(
        "shifted_features", float(len(flagged)), None, False, n_audit,
        f"Features whose training and audit distributions differ: Benjamini-Hochberg adjusted p below "
        f"{params.shift_alpha:g} and KS distance / total variation at least {params.shift_min_effect:g}.",
        {"features": flagged, "tested": len(shifts)},
    ))
    measurements += _domain(domain, params.min_group_size)
    top = shifts[: params.top_features]
    return SuiteOutput(measurements=tuple(measurements),
                       tables=(_table(top, importance, params.domain_importance_rows),), charts=(_chart(top),),
                       notes=_notes(flagged, domain))


def _psi(s: FeatureShift, n_audit: int) -> Measurement:
    return Measurement(
        f"psi[{s.name}]", s.psi, s.psi_ci, False, n_audit,
        "Population stability index of the feature, audit against training (below 0.1: stable; above 0.25: a "
        "major shift); bootstrap 95% CI.",
        {"test": s.test, "statistic": rounded(s.statistic, 6), "p_value": s.p_value, "p_adjusted_bh": s.p_adjusted,
         "effect": rounded(s.effect, 6), "flagged": s.flagged},
    )


def _domain(d: DomainScores, min_rows: int) -> list[Measurement]:
    smaller = int(min(d.train_rows.size, d.audit_rows.size))
    reason = None if smaller >= min_rows else f"only {smaller} rows on one side (minimum {min_rows})"
    details = {"train_rows": int(d.train_rows.size), "audit_rows": int(d.audit_rows.size),
               "classifier": f"gradient-boosted trees ({d.iterations} rounds), 2-fold cross-fitted"}
    n = int(d.train_rows.size + d.audit_rows.size)
    return [
        Measurement("shift_auc", d.auc, d.ci, False, n,
                    "AUC of a classifier telling audit rows from training rows, on rows it did not fit (0.5: no "
                    "detectable shift); DeLong 95% CI over the held-out rows.", details, reason),
        Measurement("shift_auc_lower_bound", d.ci[0], None, False, n,
                    "Lower end of the shift AUC's 95% CI: the separation between training and audit rows that "
                    "is established beyond sampling noise.", details, reason),
    ]


def _table(top: list[FeatureShift], importance: dict[str, float], importance_rows: int) -> Table:
    rows = tuple((s.name, s.kind, s.test, rounded(s.statistic), s.p_value, s.p_adjusted, rounded(s.effect),
                  rounded(s.psi), rounded(importance.get(s.name, float("nan"))), "yes" if s.flagged else "")
                 for s in top)
    return Table("feature_shift", "Features that separate audit rows from training rows most",
                 ("feature", "kind", "test", "statistic", "p", "BH-adjusted p", "KS distance / TV", "PSI",
                  "domain AUC lost when shuffled", "flagged"), rows,
                 caption="Sorted by effect: Kolmogorov-Smirnov distance (numeric) or total variation distance "
                         "(categorical); chi-squared is Pearson's, without continuity correction. The domain "
                         "classifier's held-out AUC lost when the feature is shuffled (on up to "
                         f"{importance_rows:,} held-out rows per cross-fitting half) shows what it relies on.")


def _chart(top: list[FeatureShift]) -> Chart:
    return Chart(
        "feature_shift", "Shift per feature (largest first)", "bar", "feature", "KS distance / total variation",
        series=(Series("effect", tuple(float(i) for i in range(len(top))), tuple(rounded(s.effect) or 0.0
                                                                                 for s in top)),),
        x_tick_labels=tuple(s.name for s in top),
    )


def _notes(flagged: list[str], d: DomainScores) -> tuple[str, ...]:
    notes = [f"A classifier separates audit from training rows with AUC {d.auc:.3f} "
             f"(95% CI {d.ci[0]:.3f}-{d.ci[1]:.3f}; 0.5 means no detectable shift)."]
    if flagged:
        notes.append("Features that shifted between training and audit rows: " + ", ".join(flagged) + ".")
    return tuple(notes)
