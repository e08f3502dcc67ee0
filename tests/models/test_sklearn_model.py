"""scikit-learn models: the trusted-types allow-list, pickles refused, capabilities from the estimator's methods."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_kinds import FEATURES, save_skops, write_table
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from audit.data.user import load_user_data
from audit.errors import AuditInputError
from audit.models.sklearn_model import load_sklearn_model, read_estimator


class Shifter(BaseEstimator, TransformerMixin):
    """A class outside scikit-learn: skops cannot vouch for it."""

    def fit(self, x, y=None):  # noqa: ANN001, ANN201
        return self

    def transform(self, x):  # noqa: ANN001, ANN201
        return x + 1


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("sklearn")
    return root, write_table(root / "d.csv")


def _data(root: Path, features: tuple[str, ...] = FEATURES):
    return load_user_data(root / "d.csv", label="y", sensitive=("group",), features=features)


def test_probabilities_match_the_estimator_and_columns_reach_it_by_name(workspace) -> None:
    root, frame = workspace
    estimator = save_skops(frame, root / "gbt.skops")
    model = load_sklearn_model(root / "gbt.skops", _data(root))
    data = _data(root)
    assert model.capabilities == {"predict", "predict_proba", "score", "queries"}  # no gradients, no torch
    expected = estimator.predict_proba(frame[list(FEATURES)])
    np.testing.assert_allclose(model.predict_proba(data.test.x), expected, atol=1e-6)
    assert (model.predict(data.test.x) == estimator.predict(frame[list(FEATURES)])).all()


def test_columns_in_another_order_are_refused_naming_both(workspace) -> None:
    root, frame = workspace
    save_skops(frame, root / "gbt.skops")
    with pytest.raises(AuditInputError, match=r"expects the columns \['a', 'b', 'c', 's'\].*gives \['b', 'a'"):
        load_sklearn_model(root / "gbt.skops", _data(root, ("b", "a", "c", "s")))


def test_decision_function_only_is_a_score_without_calibration(workspace) -> None:
    root, frame = workspace
    estimator = save_skops(frame, root / "svc.skops", LinearSVC(random_state=0))
    model = load_sklearn_model(root / "svc.skops", _data(root))
    assert model.capabilities == {"predict", "score", "queries"} and model.outputs == "scores"
    ranked = model.ranking_scores(_data(root).test.x)[:, 1]
    np.testing.assert_allclose(ranked, estimator.decision_function(frame[list(FEATURES)]), rtol=1e-5, atol=1e-5)


def test_types_outside_the_allow_list_are_refused_unless_unsafe_load_is_allowed(workspace) -> None:
    root, frame = workspace
    save_skops(frame, root / "custom.skops", make_pipeline(Shifter(), StandardScaler(), LogisticRegression()))
    with pytest.raises(AuditInputError, match="Shifter.*--allow-unsafe-load"):
        read_estimator(root / "custom.skops", allow_unsafe_load=False)
    assert read_estimator(root / "custom.skops", allow_unsafe_load=True) is not None


def test_a_pickle_is_refused_without_the_flag_with_how_to_save_with_skops(workspace) -> None:
    import joblib

    root, frame = workspace
    estimator = save_skops(frame, root / "gbt.skops")
    joblib.dump(estimator, root / "gbt.pkl")
    done = subprocess.run([sys.executable, "-m", "audit", "run", "--model", str(root / "gbt.pkl"), "--data",
                           str(root / "d.csv"), "--label", "y", "--suite", "accuracy", "--out", str(root / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "sio.dump(model" in done.stderr and "Traceback" not in done.stderr
    model = load_sklearn_model(root / "gbt.pkl", _data(root), allow_unsafe_load=True)
    assert model.source.kind == "sklearn-pickle"


def test_damaged_skops_and_wrong_classes_are_input_errors(workspace) -> None:
    root, frame = workspace
    (root / "bad.skops").write_bytes(b"not a zip")
    with pytest.raises(AuditInputError, match="not a readable .skops file"):
        read_estimator(root / "bad.skops", allow_unsafe_load=False)
    save_skops(frame.assign(y=frame["y"] + 5), root / "shifted.skops")
    with pytest.raises(AuditInputError, match=r"predicts classes \['5', '6'\]"):
        load_sklearn_model(root / "shifted.skops", _data(root))


def test_a_missing_extra_names_the_pip_command(monkeypatch, workspace) -> None:
    from audit.models.onnx_model import check_graph

    root, _ = workspace
    monkeypatch.setitem(sys.modules, "skops.io", None)  # as if skops were not installed
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(AuditInputError, match=r"pip install 'audit\[sklearn\]'"):
        read_estimator(root / "gbt.skops", allow_unsafe_load=False)
    with pytest.raises(AuditInputError, match=r"pip install 'audit\[onnx\]'"):
        check_graph(root / "model.onnx")
