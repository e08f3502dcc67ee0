"""User CSV/Parquet loading and its error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.data.user import MISSING_GROUP, count_overlap, load_user_data
from audit.errors import AuditInputError


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "income": rng.normal(size=n), "tenure": rng.integers(0, 10, n),
        "gender": rng.choice(["f", "m"], n), "approved": rng.choice(["no", "yes"], n),
    })


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "audit.csv"
    _frame().to_csv(path, index=False)
    return path


def test_loads_csv_with_sorted_label_classes(csv):
    data = load_user_data(csv, label="approved", sensitive=("gender",), features=("income", "tenure"))
    frame = pd.read_csv(csv)
    assert data.class_names == ("no", "yes") and data.task == "binary" and data.train is None
    np.testing.assert_array_equal(data.test.y.numpy(), (frame["approved"] == "yes").to_numpy())
    np.testing.assert_allclose(data.test.x.numpy(), frame[["income", "tenure"]].to_numpy(), rtol=1e-6)
    assert data.test.sensitive["gender"].tolist() == frame["gender"].tolist()


def test_parquet_and_multiclass(tmp_path):
    frame = _frame().assign(approved=np.arange(40) % 3)
    path = tmp_path / "audit.parquet"
    frame.to_parquet(path)
    data = load_user_data(path, label="approved", sensitive=("gender",), features=("income",))
    assert data.task == "multiclass" and data.class_names == ("0", "1", "2")


def test_non_numeric_features_are_named(csv):
    with pytest.raises(AuditInputError, match=r"\['gender'\].*--features"):
        load_user_data(csv, label="approved", sensitive=(), features=("income", "gender"))


def test_text_sensitive_column_is_not_a_default_feature(csv):
    data = load_user_data(csv, label="approved", sensitive=("gender",))
    assert "gender" not in data.feature_names and "gender" in data.sensitive_attributes


def test_missing_columns_list_the_available_ones(csv):
    with pytest.raises(AuditInputError, match=r"Label column.*'target'.*Available columns: \['income'"):
        load_user_data(csv, label="target", sensitive=())
    with pytest.raises(AuditInputError, match=r"Sensitive column.*'race'.*Available"):
        load_user_data(csv, label="approved", sensitive=("race",), features=("income",))


def test_label_cannot_be_a_feature(csv):
    with pytest.raises(AuditInputError, match="cannot also be a feature"):
        load_user_data(csv, label="approved", sensitive=(), features=("income", "approved"))


def test_missing_sensitive_values(tmp_path):
    frame = _frame()
    frame.loc[3, "gender"] = None
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(AuditInputError, match="'gender'.*1 missing value"):
        load_user_data(path, label="approved", sensitive=("gender",), features=("income",))
    data = load_user_data(path, label="approved", sensitive=("gender",), features=("income",), missing_group=True)
    assert data.test.sensitive["gender"][3] == MISSING_GROUP


def test_sensitive_column_may_be_a_feature(tmp_path):
    frame = _frame().assign(gender=lambda f: (f["gender"] == "m").astype(int))
    path = tmp_path / "coded.csv"
    frame.to_csv(path, index=False)
    data = load_user_data(path, label="approved", sensitive=("gender",))
    spec = data.feature("gender")
    assert spec.sensitive and not spec.mutable and data.feature("income").mutable


def test_train_file_and_overlap(tmp_path):
    train, test = _frame(40, seed=1), _frame(30, seed=2)
    test.iloc[:4] = train.iloc[[5, 6, 7, 8]].to_numpy()  # four members leak into the audited file
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    with pytest.warns(UserWarning, match="4 audited row"):
        data = load_user_data(tmp_path / "test.csv", label="approved", sensitive=("gender",),
                              features=("income", "tenure"), train_path=tmp_path / "train.csv")
    expected = len(test.merge(train[["income", "tenure"]].drop_duplicates(), on=["income", "tenure"]))
    assert count_overlap(data.train, data.test) == expected == 4
    assert len(data.train) == 40 and len(data.test) == 30


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"x")
    with pytest.raises(AuditInputError, match=".csv"):
        load_user_data(tmp_path / "data.xlsx", label="y")
    with pytest.raises(AuditInputError, match="does not exist"):
        load_user_data(tmp_path / "nope.csv", label="y")
