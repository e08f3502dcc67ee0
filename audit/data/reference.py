"""The bundled reference data sets: adult, compas, german (tabular) and mnist (images).

Everything is read from audit/data/bundled/ (see NOTICE.md); nothing is fetched at run time.
Loaded sets are cached in-process; each call returns fresh copies, so callers never share state.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.data.encoding import ColumnRoles, encode_tabular, stratified_split
from audit.data.registry import REFERENCE_DATASETS
from audit.data.types import Dataset, Split
from audit.errors import AuditInputError
from audit.hashing import file_sha256

BUNDLED = Path(__file__).parent / "bundled"
TEST_FRACTION = {"compas": 0.3, "german": 0.3, "mnist": 0.2}  # sets without an official test split


@functools.cache
def _bundled_sha256(filename: str) -> str:
    return file_sha256(BUNDLED / filename)


@functools.cache
def _read_csv(filename: str) -> pd.DataFrame:
    return pd.read_csv(BUNDLED / filename)


def _fingerprint(filename: str, split_seed: int | None) -> str:
    """SHA-256 of the bundled file, extended with the split seed where the split depends on it."""
    digest = _bundled_sha256(filename)
    if split_seed is None:
        return digest
    return hashlib.sha256(f"{digest}:split-seed={split_seed}".encode()).hexdigest()


def _tabular(
    name: str, frame: pd.DataFrame, train_rows: np.ndarray, label: np.ndarray, groups: pd.DataFrame,
    roles: ColumnRoles, class_names: tuple[str, ...], positive_class: int, raw_columns: list[str], sha256: str,
) -> Dataset:
    """Assemble a tabular Dataset; `train_rows` is a boolean mask over `frame`."""
    train_idx, test_idx = np.flatnonzero(train_rows), np.flatnonzero(~train_rows)
    encoded = encode_tabular(frame.iloc[train_idx], frame.iloc[test_idx], roles)

    def split(idx: np.ndarray, x: torch.Tensor) -> Split:
        return Split(
            x=x, y=torch.tensor(label[idx], dtype=torch.int64),
            sensitive=groups.iloc[idx].reset_index(drop=True),
            raw=frame.iloc[idx][raw_columns].reset_index(drop=True),
        )

    return Dataset(
        name=name, task="binary", class_names=class_names, input_kind="tabular",
        feature_names=encoded.feature_names, features=encoded.features,
        sensitive_attributes=tuple(groups.columns),
        train=split(train_idx, encoded.x_train), test=split(test_idx, encoded.x_test),
        source=f"{REFERENCE_DATASETS[name]} [bundled: audit/data/bundled/{name}]",
        sha256=sha256, positive_class=positive_class,
    )


def _seeded_mask(label: np.ndarray, name: str, seed: int) -> np.ndarray:
    train_idx, _ = stratified_split(label, TEST_FRACTION[name], seed)
    mask = np.zeros(len(label), dtype=bool)
    mask[train_idx] = True
    return mask


def _adult_age_group(age: pd.Series) -> pd.Series:
    bins = pd.cut(age, bins=[0, 24, 44, 64, 200], labels=["<25", "25-44", "45-64", "65+"])
    return bins.astype(str)


def load_adult(seed: int = 0) -> Dataset:
    """UCI Adult with its official train (adult.data) and test (adult.test) split; `seed` is unused."""
    frame = _read_csv("adult.csv.gz")
    label = (frame["income"] == ">50K").to_numpy(dtype=np.int64)
    groups = pd.DataFrame({"sex": frame["sex"], "race": frame["race"], "age_group": _adult_age_group(frame["age"])})
    roles = ColumnRoles(
        numeric=("age", "capital-gain", "capital-loss", "hours-per-week"),
        categorical=("workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                     "native-country"),
        sensitive=frozenset({"age", "race", "sex"}),
    )
    raw = [c for c in frame.columns if c not in ("split", "income")]
    return _tabular("adult", frame, (frame["split"] == "train").to_numpy(), label, groups, roles,
                    ("<=50K", ">50K"), 1, raw, _fingerprint("adult.csv.gz", None))


def load_compas(seed: int = 0) -> Dataset:
    """ProPublica COMPAS two-year recidivism; favourable outcome is "no_recid" (class 0)."""
    frame = _read_csv("compas.csv.gz")
    label = frame["two_year_recid"].to_numpy(dtype=np.int64)
    groups = frame[["race", "sex", "age_cat"]].astype(str)
    roles = ColumnRoles(
        numeric=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count", "length_of_stay_days"),
        categorical=("sex", "race", "c_charge_degree"),
        sensitive=frozenset({"age", "race", "sex"}),
    )
    raw = [c for c in frame.columns if c != "two_year_recid"]
    return _tabular("compas", frame, _seeded_mask(label, "compas", seed), label, groups, roles,
                    ("no_recid", "recid"), 0, raw, _fingerprint("compas.csv.gz", seed))


def load_german(seed: int = 0) -> Dataset:
    """Statlog German credit; label 1 (good) / 2 (bad), favourable class "good" (index 1)."""
    frame = _read_csv("german.csv.gz").copy()
    # Attribute 9 mixes sex and marital status; split it so sex can be a protected input on its own.
    status = frame["personal_status"].str.split(": ", n=1, expand=True)
    frame["sex"], frame["marital_status"] = status[0], status[1]
    label = (frame["credit_risk"] == 1).to_numpy(dtype=np.int64)
    groups = pd.DataFrame({
        "sex": frame["sex"],
        "age_group": np.where(frame["age"] >= 25, "age>=25", "age<25"),
    })
    numeric = ("duration", "credit_amount", "installment_rate", "residence_since", "age", "existing_credits",
               "people_liable")
    skip = {"personal_status", "credit_risk", *numeric}
    roles = ColumnRoles(
        numeric=numeric,
        categorical=tuple(c for c in frame.columns if c not in skip),
        sensitive=frozenset({"age", "sex"}),
    )
    raw = [c for c in _read_csv("german.csv.gz").columns if c != "credit_risk"]
    return _tabular("german", frame, _seeded_mask(label, "german", seed), label, groups, roles,
                    ("bad", "good"), 1, raw, _fingerprint("german.csv.gz", seed))


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    with np.load(BUNDLED / "mnist.npz", allow_pickle=False) as archive:
        return archive["pixels"], archive["labels"].astype(np.int64)


def load_mnist(seed: int = 0) -> Dataset:
    """A 5,000-image MNIST subset, split 80/20 per class with `seed`; pixels scaled to [0, 1]."""
    pixels, labels = _mnist_arrays()
    train_idx, test_idx = stratified_split(labels, TEST_FRACTION["mnist"], seed)

    def split(idx: np.ndarray) -> Split:
        x = torch.tensor(pixels[idx], dtype=torch.float32).div_(255.0).unsqueeze(1)
        return Split(x=x, y=torch.tensor(labels[idx]), sensitive=pd.DataFrame(index=range(len(idx))))

    return Dataset(
        name="mnist", task="multiclass", class_names=tuple(str(d) for d in range(10)), input_kind="image",
        feature_names=(), features=(), sensitive_attributes=(), train=split(train_idx), test=split(test_idx),
        source=f"{REFERENCE_DATASETS['mnist']} [bundled: audit/data/bundled/mnist.npz]",
        sha256=_fingerprint("mnist.npz", seed),
    )


LOADERS: dict[str, Callable[[int], Dataset]] = {
    "adult": load_adult, "compas": load_compas, "german": load_german, "mnist": load_mnist,
}


@functools.lru_cache(maxsize=8)
def _cached(name: str, seed: int) -> Dataset:
    return LOADERS[name](seed)


def _copy_split(split: Split) -> Split:
    raw = None if split.raw is None else split.raw.copy()
    return Split(x=split.x.clone(), y=split.y.clone(), sensitive=split.sensitive.copy(), raw=raw)


def load_reference(name: str, seed: int = 0) -> Dataset:
    """Load a bundled reference data set by name ("adult", "compas", "german", "mnist")."""
    if name not in LOADERS:
        raise AuditInputError(
            f"Unknown reference data set {name!r}. Choose one of: {', '.join(sorted(LOADERS))}, "
            "or pass a CSV/Parquet file path."
        )
    cached = _cached(name, seed)
    train = None if cached.train is None else _copy_split(cached.train)
    return dataclasses.replace(cached, train=train, test=_copy_split(cached.test))
