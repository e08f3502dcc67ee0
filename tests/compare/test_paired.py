"""Paired comparison of two models audited on the same rows: McNemar, paired bootstrap, pairing refusal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference
from scipy import stats

from audit.compare import CompareSettings, compare_dirs, compare_runs, load_run
from audit.compare.bootstrap import suite_seed
from audit.errors import AuditInputError
from audit.evidence import load_run_evidence, rows_sha256
from audit.stats import percentile_ci
from audit.testing import synthetic_tabular, tabular_model
from tests.compare.helpers import audit_run, favouring

RESAMPLES = 100


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object, object, object]:
    data = synthetic_tabular(800, seed=5)
    base = tabular_model(data, epochs=30)
    cand = favouring(base, data, "sex=Male", 0.8)  # differs on known rows: males pushed to the favourable class
    root = tmp_path_factory.mktemp("paired")
    return audit_run(root / "base", data, base), audit_run(root / "cand", data, cand), data, base, cand


def _row(comparison: object, key: str) -> object:
    return next(r for r in comparison.measurements if r.key == key)


def test_mcnemar_p_equals_scipy_on_the_models_discordant_rows(two_runs: tuple) -> None:
    base_dir, cand_dir, data, base, cand = two_runs
    comparison = compare_runs(load_run(base_dir, "b"), load_run(cand_dir, "c"), CompareSettings(resamples=RESAMPLES))
    y = data.test.y.numpy()
    right_b, right_c = base.predict(data.test.x) == y, cand.predict(data.test.x) == y
    only_b, only_c = int((right_b & ~right_c).sum()), int((~right_b & right_c).sum())
    assert only_b + only_c > 0, "the models must differ on some rows"
    row = _row(comparison, "accuracy.accuracy")
    assert row.method.startswith("exact McNemar") and comparison.paired
    assert (row.details["discordant_baseline_only"], row.details["discordant_candidate_only"]) == (only_b, only_c)
    assert row.p_value == pytest.approx(stats.binomtest(only_b, only_b + only_c, 0.5).pvalue, rel=1e-12)


def test_paired_bootstrap_ci_equals_direct_computation_on_the_same_resamples(two_runs: tuple) -> None:
    base_dir, cand_dir, data, base, cand = two_runs
    comparison = compare_runs(load_run(base_dir, "b"), load_run(cand_dir, "c"), CompareSettings(resamples=RESAMPLES))
    y, n = data.test.y.numpy(), len(data.test)
    pred_b, pred_c = base.predict(data.test.x), cand.predict(data.test.x)
    # The accuracy suite's resamples: row indices drawn with the suite's seed, the same for both models.
    idx = np.random.default_rng(suite_seed(0, "accuracy")).integers(0, n, size=(RESAMPLES, n))
    direct = (pred_c == y)[idx].mean(axis=1) - (pred_b == y)[idx].mean(axis=1)
    assert _row(comparison, "accuracy.accuracy").ci == pytest.approx(percentile_ci(direct), abs=1e-12)
    # Fairness: fairlearn's demographic parity difference on each resample of rows (independent implementation).
    few = 40  # fairlearn is slow per call; 40 resamples suffice to pin the CI to the same draws
    comparison = compare_runs(load_run(base_dir, "b"), load_run(cand_dir, "c"), CompareSettings(resamples=few))
    idx = np.random.default_rng(suite_seed(0, "fairness")).integers(0, n, size=(few, n))
    sex = data.test.sensitive["sex"].to_numpy()
    direct = [demographic_parity_difference(y[i], pred_c[i], sensitive_features=sex[i])
              - demographic_parity_difference(y[i], pred_b[i], sensitive_features=sex[i]) for i in idx]
    row = _row(comparison, "fairness.dp_difference[sex]")
    assert row.method.startswith("paired bootstrap")
    assert row.ci == pytest.approx(percentile_ci(np.array(direct)), abs=1e-9)
    assert row.difference > 0 and row.direction == "worse"


def test_fdr_adjusted_p_values_are_reported_beside_raw_ones(two_runs: tuple) -> None:
    base_dir, cand_dir, *_ = two_runs
    comparison = compare_runs(load_run(base_dir, "b"), load_run(cand_dir, "c"), CompareSettings(resamples=RESAMPLES))
    tested = [r for r in comparison.measurements if r.p_value is not None]
    assert len(tested) > 10
    assert all(r.p_adjusted is not None and r.p_adjusted >= r.p_value - 1e-12 for r in tested)


def test_evidence_rows_are_keyed_and_hashed(two_runs: tuple) -> None:
    base_dir, *_ = two_runs
    evidence = load_run_evidence(base_dir)
    assert set(evidence) == {"accuracy", "fairness"}
    acc = evidence["accuracy"]
    assert {"row_key", "label", "predicted", "proba[0]", "proba[1]"} <= set(acc.frame.columns)
    assert acc.rows_sha256 == rows_sha256(list(acc.frame["row_key"])) and acc.frame["row_key"].is_unique
    assert {"group[sex]", "group[race]"} <= set(evidence["fairness"].frame.columns)


def test_runs_on_different_data_are_refused_unless_unpaired(two_runs: tuple, tmp_path: Path) -> None:
    base_dir, _, data, base, _ = two_runs
    other = dataclasses.replace(data, test=data.test.subset(torch.arange(0, len(data.test) - 7)), sha256="other")
    other_dir = audit_run(tmp_path / "other", other, base)
    with pytest.raises(AuditInputError, match="--unpaired"):
        compare_runs(load_run(base_dir, "b"), load_run(other_dir, "c"), CompareSettings(resamples=RESAMPLES))
    unpaired = compare_runs(load_run(base_dir, "b"), load_run(other_dir, "c"),
                            CompareSettings(resamples=RESAMPLES, unpaired=True))
    assert not unpaired.paired and "Unpaired" in unpaired.notes[0]
    assert _row(unpaired, "accuracy.accuracy").method.startswith("unpaired bootstrap")


def test_attribution_reliance_is_paired_tested_from_its_row_evidence(two_runs: tuple, tmp_path: Path) -> None:
    _, _, data, base, cand = two_runs
    light = {"n_explain": 60, "n_background": 30, "nsamples": 60, "permutation_rows": 100, "permutation_repeats": 2,
             "bootstrap_resamples": 100}
    runs = [audit_run(tmp_path / name, data, model, suites="explainability", suites_extra={"explainability": light})
            for name, model in (("base", base), ("cand", cand))]
    comparison = compare_runs(load_run(runs[0], "b"), load_run(runs[1], "c"), CompareSettings(resamples=RESAMPLES))
    reliance = [r for r in comparison.measurements if "reliance" in r.key]
    assert reliance and all(r.method.startswith("paired bootstrap") for r in reliance), comparison.notes
    assert not any("does not reproduce" in note for note in comparison.notes)


def test_comparison_reports_render_hostile_names_inert(tmp_path: Path) -> None:
    data = synthetic_tabular(300, seed=9)
    model = tabular_model(data, epochs=5)
    hostile = dataclasses.replace(model, name="<script>alert(1)</script>@here *bold* | pipe")
    run = audit_run(tmp_path / "run", data, hostile, suites="accuracy")
    comparison, files = compare_dirs(run, run, CompareSettings(resamples=RESAMPLES), tmp_path / "cmp")
    for fmt in ("md", "html"):
        assert "<script>alert" not in files[fmt].read_text(), fmt
    assert "@here" not in files["md"].read_text()  # no @mention from a PR comment
    assert "<svg" in files["html"].read_text()  # side-by-side charts, drawn inline
    assert comparison.exit_code == 0
