"""The data suite finds planted problems (duplicates, group-concentrated label flips, a shifted feature) on tiny
synthetic data, raises none on clean data, and never passes a gate on a part it could not run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps
from torch import nn

from audit import gating, registry
from audit.data.types import Dataset, FeatureSpec, Split
from audit.errors import AuditInputError
from audit.policy import build_policy
from audit.suite import Output, SuiteContext
from audit.suites.data import DataParams, DataSuite
from audit.suites.data.label_errors import find_issues
from audit.testing import synthetic_tabular, tabular_model, train_classifier, wrap_module
from audit.types import SuiteResult, SuiteStatus, Verdict

FAST = dataclasses.replace(DataSuite().params_for("quick"), resamples=100)


def _run(data: Dataset, model=None, params: DataParams = FAST, seed: int = 0):
    model = model or tabular_model(data, epochs=30)
    ctx = SuiteContext(model=model, data=data, seed=seed, preset="quick", cache_dir=Path("."))
    return DataSuite().run(ctx, params)


def _by_name(out) -> dict:
    return {m.name: m for m in out.measurements}


def _checks(out) -> dict:
    result = SuiteResult("data", "data", SuiteStatus.OK, measurements=out.measurements, validity=out.validity)
    return {c.key: c for c in gating.checks_for(result, build_policy([], "value"))}


def _with_splits(data: Dataset, train: Split | None, test: Split) -> Dataset:
    return dataclasses.replace(data, train=train, test=test)


def _replace_rows(split: Split, rows: np.ndarray, x: torch.Tensor, y: torch.Tensor, sensitive: pd.DataFrame) -> Split:
    new_x, new_y, new_s = split.x.clone(), split.y.clone(), split.sensitive.copy()
    new_x[rows], new_y[rows] = x, y
    new_s.iloc[rows] = sensitive.to_numpy()
    return Split(new_x, new_y, new_s)


@pytest.fixture(scope="module")
def clean() -> Dataset:
    return synthetic_tabular(1000, seed=3)


@pytest.fixture(scope="module")
def clean_model(clean: Dataset):
    return tabular_model(clean, epochs=30)


@pytest.fixture(scope="module")
def clean_output(clean: Dataset, clean_model):
    return _run(clean, clean_model)


def test_clean_data_raises_nothing(clean_output) -> None:
    m, checks = _by_name(clean_output), _checks(clean_output)
    assert m["leakage_exact_share"].value == 0 and m["near_duplicate_share"].value == 0
    assert m["label_conflict_share"].value == 0
    assert m["shifted_features"].value == 0
    assert m["shift_auc_lower_bound"].value < 0.6
    assert m["out_of_range_share"].value < 0.02
    blocking = [k for k, c in checks.items() if gating.is_blocking(c)]
    assert blocking == []
    assert checks["data.leakage_excess_share"].verdict is Verdict.PASS
    assert checks["data.shift_auc_lower_bound"].verdict is Verdict.PASS


@pytest.mark.parametrize("preset", ["full", "quick"])
def test_the_presets_include_the_data_pillar(preset: str) -> None:
    from audit.pillars import PILLAR_NAMES

    assert "data" in PILLAR_NAMES
    assert "data" in [entry.name for entry in registry.resolve(preset)[1]]


def test_every_figure_is_declared_in_emits(clean_output) -> None:
    names = {m.name for m in clean_output.measurements}
    assert [n for n in names if not any(Output("data", p).matches(n) for p in DataSuite.emits)] == []


def test_same_seed_same_figures(clean: Dataset, clean_model, clean_output) -> None:
    again = _run(clean, clean_model)
    assert [(m.name, m.value, m.ci) for m in again.measurements] == \
        [(m.name, m.value, m.ci) for m in clean_output.measurements]


def test_duplicated_rows_are_counted_exactly_and_fail_the_gate(clean: Dataset) -> None:
    train, test = clean.train, clean.test
    exact = np.arange(17)
    leaked = _replace_rows(test, exact, train.x[:17], train.y[:17], train.sensitive.iloc[:17])
    near_x = train.x[20:28].clone()
    near_x[:, 0] += 1e-5  # far below the 0.01-SD rounding tolerance on a numeric column
    leaked = _replace_rows(leaked, np.arange(17, 25), near_x, train.y[20:28], train.sensitive.iloc[20:28])
    conflict_y = leaked.y.clone()
    conflict_y[0] = 1 - conflict_y[0]  # one copy carries the other label
    leaked = Split(leaked.x, conflict_y, leaked.sensitive)
    out = _run(_with_splits(clean, train, leaked), params=dataclasses.replace(FAST, label_errors=False))
    m = _by_name(out)
    assert m["leakage_exact_share"].details["audit_rows_in_training"] == 17
    assert m["leakage_exact_share"].value == pytest.approx(17 / len(test))
    assert m["near_duplicate_share"].details["audit_rows_in_training"] == 25
    assert m["label_conflict_share"].details["rows"] == 2
    assert _checks(out)["data.leakage_excess_share"].verdict is Verdict.FAIL


def _separable(n: int = 1500, seed: int = 0) -> Dataset:
    """Labels a linear rule of four numerics decides exactly (so only planted flips are label errors)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 4))
    y = (x @ np.array([2.0, -1.5, 1.0, 0.5]) > 0).astype(np.int64)
    sex = rng.choice(["Female", "Male"], n)
    whole = Split(torch.tensor(x, dtype=torch.float32), torch.tensor(y), pd.DataFrame({"sex": sex}))
    cut = int(n * 0.6)
    return Dataset(
        name="separable", task="binary", class_names=("no", "yes"), input_kind="tabular",
        feature_names=tuple(f"f{i}" for i in range(4)),
        features=tuple(FeatureSpec(f"f{i}", "numeric", (i,)) for i in range(4)),
        sensitive_attributes=("sex",), train=whole.subset(torch.arange(cut)), test=whole.subset(torch.arange(cut, n)),
        source="test", sha256="separable",
    )


def _flip_female_labels(data: Dataset, share: float, seed: int) -> tuple[Dataset, np.ndarray]:
    train = data.train
    female = np.flatnonzero(train.sensitive["sex"].to_numpy() == "Female")
    flipped = np.sort(np.random.default_rng(seed).permutation(female)[: int(share * female.size)])
    y = train.y.clone()
    y[flipped] = 1 - y[flipped]
    return _with_splits(data, Split(train.x, y, train.sensitive), data.test), flipped


@pytest.mark.parametrize("with_recipe", [False, True])
def test_flipped_labels_in_one_group_are_recovered(with_recipe: bool) -> None:
    data, flipped = _flip_female_labels(_separable(), 0.12, seed=1)
    if with_recipe:
        model = tabular_model(data, epochs=80)
    else:
        linear = train_classifier(nn.Linear(4, 2), data.train.x, data.train.y, epochs=80)
        model = wrap_module(linear, data)
    params = dataclasses.replace(FAST, label_error_folds=3)
    oos, issues = find_issues(model, data.train, 2, params, np.random.default_rng(0), 0)
    assert ("recipe" in oos.method) is with_recipe
    found = set(oos.rows[issues].tolist())
    hits = len(found & set(flipped.tolist()))
    assert hits / flipped.size >= 0.7, "recall"
    assert hits / max(len(found), 1) >= 0.7, "precision"
    out = _run(data, model=model, params=params)
    gap = _by_name(out)["label_issue_gap[train,sex]"]
    assert gap.ci[0] > 0.03
    assert gap.details["flagged"]["Female"] > 3 * gap.details["flagged"]["Male"]


def test_folds_trained_together_match_folds_trained_one_by_one() -> None:
    """A tabular recipe's folds train in one vectorised pass; the slow path (train_model per fold) on the same
    folds gives the same probabilities up to the models' seeds, and cleanlab flags the same rows."""
    from cleanlab.filter import find_label_issues
    from sklearn.model_selection import StratifiedKFold

    from audit.suites.data.label_errors import _recipe_fold, _recipe_folds_together

    data, flipped = _flip_female_labels(_separable(), 0.12, seed=1)
    model = tabular_model(data, epochs=80)
    oos, issues = find_issues(model, data.train, 2, dataclasses.replace(FAST, label_error_folds=3),
                              np.random.default_rng(0), 0)
    assert "one vectorised pass" in oos.method
    y = data.train.y.numpy()[oos.rows]
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(np.zeros(oos.rows.size), y))
    one_by_one = np.zeros_like(oos.proba)
    for fit, held in splits:
        one_by_one[held] = _recipe_fold(model, data.train, oos.rows[fit], oos.rows[held])
    together = _recipe_folds_together(model, data.train, oos.rows, splits, np.random.default_rng(0))
    np.testing.assert_allclose(together, oos.proba)  # the suite's path
    assert np.corrcoef(together[:, 1], one_by_one[:, 1])[0, 1] > 0.95
    slow = find_label_issues(y, one_by_one, n_jobs=1)
    assert (slow == issues).mean() > 0.97
    assert len(set(oos.rows[issues]) & set(flipped)) >= 0.9 * len(set(oos.rows[slow]) & set(flipped))


def test_a_shifted_feature_is_flagged_ranked_first_and_fails_the_shift_gate(clean: Dataset) -> None:
    test = clean.test
    x = test.x.clone()
    x[:, 1] += 1.0  # "education" moves by one training SD in the audit rows
    out = _run(_with_splits(clean, clean.train, Split(x, test.y, test.sensitive)),
               params=dataclasses.replace(FAST, label_errors=False))
    m = _by_name(out)
    assert m["shifted_features"].details["features"] == ["education"]
    assert m["psi[education]"].details["flagged"] and m["psi[education]"].value > 0.25
    table = next(t for t in out.tables if t.id == "feature_shift")
    assert table.rows[0][0] == "education"
    lost = {row[0]: row[table.columns.index("domain AUC lost when shuffled")] for row in table.rows}
    assert lost["education"] > 0.1 and lost["education"] == max(lost.values())  # the classifier relies on it
    assert m["shift_auc"].value > 0.7
    assert _checks(out)["data.shift_auc_lower_bound"].verdict is Verdict.FAIL
    assert m["out_of_range_share"].details["rows"] >= 5  # the shifted values pass the training maximum


def test_without_training_rows_the_training_parts_never_pass(clean: Dataset, clean_model) -> None:
    out = _run(_with_splits(clean, None, clean.test), clean_model, params=FAST)
    m, checks = _by_name(out), _checks(out)
    for name in ("leakage_excess_share", "shift_auc_lower_bound", "label_issue_share[train]", "generalisation_gap"):
        assert m[name].insufficient_reason and "training rows" in m[name].insufficient_reason
    assert checks["data.leakage_excess_share"].verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert gating.is_blocking(checks["data.shift_auc_lower_bound"])
    assert "share[audit,sex=Female]" in m and not any(n.startswith("share[train") for n in m)
    assert any("skipped" in n for n in out.notes)


def test_reference_shares_and_small_groups(clean: Dataset, clean_model) -> None:
    params = registry.apply_overrides("data", FAST, {"reference": {"sex": {"Female": 0.6}}, "label_errors": False,
                                                     "min_group_size": 80})
    out = _run(clean, clean_model, params=params)
    m = _by_name(out)
    ratio = m["reference_ratio[train,sex=Female]"]
    k, n = ratio.details["rows"], ratio.n
    assert ratio.value == pytest.approx(k / n / 0.6) and ratio.value < 0.8  # about 40% Female against 60%
    assert ratio.details["binomial_test_p"] == pytest.approx(sps.binomtest(k, n, 0.6).pvalue)
    composition = m["composition_difference[race]"]
    train_share = clean.train.sensitive["race"].value_counts(normalize=True)
    audit_share = clean.test.sensitive["race"].value_counts(normalize=True)
    assert composition.value == pytest.approx(0.5 * (train_share - audit_share).abs().sum())
    table = pd.crosstab(np.r_[np.zeros(len(clean.train)), np.ones(len(clean.test))],
                        np.r_[clean.train.sensitive["race"], clean.test.sensitive["race"]])
    assert composition.details["p_value"] == pytest.approx(sps.chi2_contingency(table, correction=False).pvalue)
    counts = clean.train.sensitive["race"].value_counts()
    assert counts["C"] < 80 and any("race=C" in g for g in m["small_groups"].details["groups"])
    assert _checks(out)["data.reference_ratio[train,sex=Female]"].verdict is Verdict.WARN


def test_bad_settings_are_input_errors(clean: Dataset, clean_model) -> None:
    with pytest.raises(AuditInputError, match="age"):
        _run(clean, clean_model, params=dataclasses.replace(FAST, reference={"age": {"old": 0.2}}))
    with pytest.raises(AuditInputError, match="label_error_folds"):
        registry.apply_overrides("data", FAST, {"label_error_folds": 1})
    with pytest.raises(AuditInputError, match=r"reference\.sex\.Female = 1\.5"):
        registry.apply_overrides("data", FAST, {"reference": {"sex": {"Female": 1.5}}})
    with pytest.raises(AuditInputError, match="add up to 1.2"):
        registry.apply_overrides("data", FAST, {"reference": {"sex": {"Female": 0.6, "Male": 0.6}}})


def _images(n: int = 300, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.round(rng.random((n, 1, 6, 6)) * 0.5, 2)  # pixels in [0, 0.5], both ends seen in training
    x[np.arange(n), 0, y, y] = 1.0  # a class-specific bright pixel
    whole = Split(torch.tensor(x, dtype=torch.float32), torch.tensor(y), pd.DataFrame(index=range(n)))
    return Dataset(name="tiny-images", task="multiclass", class_names=("0", "1", "2"), input_kind="image",
                   feature_names=(), features=(), sensitive_attributes=(), train=whole.subset(torch.arange(200)),
                   test=whole.subset(torch.arange(200, n)), source="test", sha256="tiny-images")


def test_images_leakage_by_content_hash_and_shift_on_pixel_components() -> None:
    data = _images()
    test = _replace_rows(data.test, np.arange(5), data.train.x[:5], data.train.y[:5], data.train.sensitive.iloc[:5])
    test.x[10, 0, 0, 0] = 3.0  # brighter than any training pixel
    data = _with_splits(data, data.train, test)
    module = train_classifier(nn.Sequential(nn.Flatten(), nn.Linear(36, 3)), data.train.x, data.train.y, epochs=60)
    out = _run(data, model=wrap_module(module, data), params=dataclasses.replace(FAST, image_components=5))
    m = _by_name(out)
    assert m["leakage_exact_share"].details["audit_rows_in_training"] == 5
    assert {f"psi[pixel PC{i}]" for i in range(1, 6)} <= set(m)
    assert m["shift_auc_lower_bound"].value < 0.6
    assert "logistic regression" in m["label_issue_share[train]"].details["method"]
    assert m["out_of_range_share"].details["rows"] == 1


def test_quality_reads_the_raw_rows_missing_by_group_unseen_values_and_constant_columns(clean: Dataset,
                                                                                          clean_model) -> None:
    def raw(split: Split, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"age": rng.integers(20, 60, len(split)).astype(float),
                             "city": rng.choice(["a", "b"], len(split)), "constant": "x"})

    train_raw, audit_raw = raw(clean.train, 1), raw(clean.test, 2)
    is_female = clean.test.sensitive["sex"].to_numpy() == "Female"
    female = np.flatnonzero(is_female)
    audit_raw.loc[female[female >= 10][:20], "age"] = np.nan  # missing only among women, apart from rows 0-4
    audit_raw.loc[[0, 1, 2], "city"] = "new"  # a category training never saw
    audit_raw.loc[[3, 4], "age"] = 99.0  # beyond the training maximum
    data = _with_splits(clean, dataclasses.replace(clean.train, raw=train_raw),
                        dataclasses.replace(clean.test, raw=audit_raw))
    out = _run(data, clean_model, params=dataclasses.replace(FAST, label_errors=False))
    m = _by_name(out)
    assert m["missing_rows_share[audit]"].details["rows_missing"] == 20
    assert m["missing_gap[audit,sex]"].value == pytest.approx(20 / female.size)
    assert m["out_of_range_share"].details["rows"] == 5
    assert m["near_constant_columns"].details["columns"] == ["constant"]
    assert not any("encoded model inputs" in n for n in out.notes)  # raw rows were read


def test_text_models_shift_on_their_embeddings_and_free_text_is_not_a_category(tmp_path: Path) -> None:
    from audit.foundation.testing import tiny_text_reference

    model, data = tiny_text_reference(tmp_path)
    out = _run(data, model, params=dataclasses.replace(FAST, label_errors=False))
    m = _by_name(out)
    assert "psi[embedding[0]]" in m
    table = next(t for t in out.tables if t.id == "out_of_range")
    assert ("text", "free text (not checked)") not in [(r[0], r[1]) for r in table.rows]  # listed only if flagged
    assert m["out_of_range_share"].value < 0.05


def test_a_tiny_audit_split_is_insufficient_evidence_not_a_crash(clean: Dataset, clean_model) -> None:
    tiny = _with_splits(clean, clean.train, clean.test.subset(torch.arange(5)))
    m = _by_name(_run(tiny, clean_model, params=dataclasses.replace(FAST, label_errors=False)))
    assert "only 5 rows" in m["shift_auc_lower_bound"].insufficient_reason
    assert "only 5 rows" in m["generalisation_gap"].insufficient_reason
