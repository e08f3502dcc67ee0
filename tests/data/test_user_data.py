"""User CSV/Parquet loading and its error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.data.user import MISSING_GROUP, count_overlap, load_user_data, load_user_inputs
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


def _write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty; it needs a header row"),
        (b"\n\n", "is empty; it needs a header row"),
        (b"income,approved\n", "has a header but no data rows"),
        (b"income,tenure,approved\n1,2,yes\n3,4,no,extra\n", r"not a well-formed CSV \(.*line 3.*as many"),
        (b"income,approved\n\xff\xfe1,yes\n2,no\n", "not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
        ("income,approved\n1,yes\n2,no\n".encode("utf-16"), "binary data|not UTF-8"),
    ],
)
def test_unreadable_csv_files_are_input_errors(tmp_path, content, message):
    path = _write(tmp_path, "bad.csv", content)
    with pytest.raises(AuditInputError, match=message):
        load_user_data(path, label="approved")


def test_garbage_parquet_and_gzip(tmp_path):
    with pytest.raises(AuditInputError, match="not a readable Parquet file"):
        load_user_data(_write(tmp_path, "bad.parquet", b"PAR1 not really"), label="y")
    with pytest.raises(AuditInputError, match="could not be read as CSV"):
        load_user_data(_write(tmp_path, "bad.csv.gz", b"not gzip at all"), label="y")


def test_short_rows_are_named_as_missing_values(tmp_path):
    path = _write(tmp_path, "short.csv", b"income,tenure,approved\n1,2,yes\n3,no\n")
    with pytest.raises(AuditInputError, match="missing values.*data row 2"):
        load_user_data(path, label="approved", features=("income", "tenure"))


@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "-1e39"])
def test_non_finite_or_float32_overflow_features_name_column_and_row(tmp_path, value):
    """1e300 becomes inf in float32; the model used to be blamed for it."""
    frame = _frame()
    frame["income"] = frame["income"].astype(object)
    frame.loc[7, "income"] = value
    frame.to_csv(tmp_path / "big.csv", index=False)
    with pytest.raises(AuditInputError, match=r"column 'income'.*infinite or too large.*data row 8"):
        load_user_data(tmp_path / "big.csv", label="approved", sensitive=("gender",), features=("income", "tenure"))


def test_text_labels_in_one_file_and_numbers_in_the_other(tmp_path):
    _frame(30, seed=1).to_csv(tmp_path / "test.csv", index=False)
    _frame(30, seed=2).assign(approved=lambda f: (f["approved"] == "yes").astype(int)).to_csv(
        tmp_path / "train.csv", index=False)
    with pytest.raises(AuditInputError, match=r"holds text in 'test.csv' but numbers in 'train.csv'"):
        load_user_data(tmp_path / "test.csv", label="approved", features=("income",),
                       train_path=tmp_path / "train.csv")


def test_left_out_text_sensitive_column_is_reported(csv):
    inputs = load_user_inputs(csv, label="approved", sensitive=("gender",))
    assert "gender" not in inputs.dataset.feature_names
    assert list(inputs.left_out) == ["gender"] and "text values" in inputs.left_out["gender"]
    assert load_user_inputs(csv, label="approved", sensitive=("gender",), features=("income",)).left_out == {}


def test_no_feature_columns_left(tmp_path):
    _frame()[["gender", "approved"]].to_csv(tmp_path / "only.csv", index=False)
    with pytest.raises(AuditInputError, match="no feature columns"):
        load_user_data(tmp_path / "only.csv", label="approved", sensitive=("gender",))
