"""Bundled reference data sets: shapes, encodings (checked against scikit-learn), groups, hashes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit.data.reference import BUNDLED, load_reference
from audit.data.registry import REFERENCE_DATASETS
from audit.errors import AuditInputError

TABULAR = ("adult", "compas", "german")


@pytest.fixture(scope="module", params=TABULAR)
def tabular(request):
    return load_reference(request.param)


def test_registry_lists_every_loader():
    assert set(REFERENCE_DATASETS) == {"adult", "compas", "german", "mnist"}
    for name in REFERENCE_DATASETS:
        assert load_reference(name).name == name


def test_documented_row_counts():
    # Counts from the sources' documentation (UCI, ProPublica's filtered analysis set, Statlog, the subset).
    adult = load_reference("adult")
    assert (len(adult.train), len(adult.test)) == (32561, 16281)
    assert len(load_reference("compas").train) + len(load_reference("compas").test) == 6172
    german = load_reference("german")
    assert len(german.train) + len(german.test) == 1000
    mnist = load_reference("mnist")
    assert len(mnist.train) + len(mnist.test) == 5000


def test_splits_are_well_formed(tabular):
    for split in (tabular.train, tabular.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert torch.isfinite(split.x).all()
        assert split.x.shape[1] == len(tabular.feature_names)
        assert set(split.y.unique().tolist()) == {0, 1}
        assert list(split.sensitive.columns) == list(tabular.sensitive_attributes)
        assert len(split.sensitive) == len(split.raw) == len(split)
        assert not split.sensitive.isna().any().any()
        assert all(split.sensitive[c].map(type).eq(str).all() for c in split.sensitive.columns)


def test_one_hot_matches_sklearn(tabular):
    for spec in (s for s in tabular.features if s.kind == "categorical" and s.name in tabular.test.raw.columns):
        encoder = OneHotEncoder(categories=[list(spec.categories)], handle_unknown="ignore")
        expected = encoder.fit_transform(tabular.test.raw[[spec.name]].astype(str)).toarray()
        np.testing.assert_array_equal(tabular.test.x[:, list(spec.columns)].numpy(), expected)
        assert (tabular.train.x[:, list(spec.columns)].sum(dim=1) == 1).all()


def test_numerics_standardised_with_train_statistics(tabular):
    for spec in (s for s in tabular.features if s.kind == "numeric"):
        scaler = StandardScaler().fit(tabular.train.raw[[spec.name]].to_numpy(float))
        expected = scaler.transform(tabular.test.raw[[spec.name]].to_numpy(float))[:, 0]
        np.testing.assert_allclose(tabular.test.x[:, spec.columns[0]].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_protected_inputs_are_immutable(tabular):
    protected = {s.name for s in tabular.features if s.sensitive}
    assert "sex" in protected and "age" in protected
    assert all(not s.mutable for s in tabular.features if s.sensitive)


def test_compas_has_no_leakage_columns():
    names = load_reference("compas").feature_names
    leaky = ("decile_score", "score_text", "is_recid", "violent_recid", "r_", "vr_", "v_", "event", "end")
    assert not [n for n in names if n.startswith(leaky)]


def test_german_groups_derive_from_attribute_9_and_age():
    german = load_reference("german")
    raw, groups = german.test.raw, german.test.sensitive
    assert (raw["personal_status"].str.startswith("female") == (groups["sex"] == "female")).all()
    assert ((raw["age"] >= 25) == (groups["age_group"] == "age>=25")).all()
    assert german.class_names[german.positive_class] == "good"


def test_adult_labels_follow_raw_income():
    adult = load_reference("adult")
    assert "income" not in adult.test.raw.columns  # the label never leaks into text serialisations
    assert adult.test.y.float().mean().item() == pytest.approx(3846 / 16281)  # adult.names: 23.6% >50K


def test_mnist_images_and_stratified_split():
    mnist = load_reference("mnist", seed=3)
    assert mnist.test.x.shape[1:] == (1, 28, 28) and mnist.input_kind == "image"
    assert 0.0 <= mnist.train.x.min() and mnist.train.x.max() <= 1.0
    assert torch.bincount(mnist.test.y).tolist() == [100] * 10
    assert mnist.sensitive_attributes == () and len(mnist.test.sensitive) == len(mnist.test)


def test_hashes_cover_file_and_split_seed():
    adult = load_reference("adult")
    assert adult.sha256 == hashlib.sha256((BUNDLED / "adult.csv.gz").read_bytes()).hexdigest()
    assert load_reference("adult", seed=5).sha256 == adult.sha256  # official split: seed does not matter
    german0, german1 = load_reference("german", 0), load_reference("german", 1)
    assert german0.sha256 == load_reference("german", 0).sha256 != german1.sha256
    assert torch.equal(german0.test.y, load_reference("german", 0).test.y)
    assert not torch.equal(german0.test.x, german1.test.x)


def test_unknown_name_is_an_input_error():
    with pytest.raises(AuditInputError, match="adult"):
        load_reference("adutl")
