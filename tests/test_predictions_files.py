"""Prediction files: what each column flag gives the model, and bad columns refused with exit 2 naming them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audit.errors import AuditInputError
from audit.models.predictions import PredictionColumns, load_predictions
from audit.models.types import MissingCapability


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 120
    p = rng.uniform(size=n)
    frame = pd.DataFrame({"y": (rng.uniform(size=n) < p).astype(int), "prediction": (p > 0.5).astype(int),
                          "risk": np.round(p * 9) + 1, "p0": 1 - p, "p1": p, "group": rng.choice(["a", "b"], n),
                          "f1": rng.normal(size=n)})
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    return path


def test_classes_only_gives_predict_and_nothing_else(table: Path) -> None:
    model, data = load_predictions(table, PredictionColumns(label="y", sensitive=("group",)))
    assert model.capabilities == {"predict"} and model.outputs == "labels" and data.input_shape == (0,)
    assert (model.predict(data.test.x) == pd.read_csv(table)["prediction"].to_numpy()).all()
    with pytest.raises(MissingCapability):
        model.predict_proba(data.test.x)


def test_a_monotone_score_ranks_but_is_not_a_probability(table: Path) -> None:
    model, data = load_predictions(table, PredictionColumns(label="y", score="risk"))
    assert model.capabilities == {"predict", "score"} and "not probabilities" in model.description
    assert (model.ranking_scores(data.test.x)[:, 1] == pd.read_csv(table)["risk"].to_numpy()).all()


def test_scores_in_unit_interval_and_proba_columns_are_probabilities(table: Path) -> None:
    for columns in (PredictionColumns(label="y", score="p1"), PredictionColumns(label="y", proba=("p0", "p1"))):
        model, data = load_predictions(table, columns)
        assert {"predict_proba", "score"} <= model.capabilities
        np.testing.assert_allclose(model.predict_proba(data.test.x)[:, 1], pd.read_csv(table)["p1"], atol=1e-6)


def test_only_proba_columns_decide_by_the_most_probable_class(table: Path) -> None:
    frame = pd.read_csv(table).drop(columns="prediction")
    frame.to_csv(table, index=False)
    model, data = load_predictions(table, PredictionColumns(label="y", proba=("p0", "p1")))
    assert (model.predict(data.test.x) == (frame["p1"] > 0.5).to_numpy()).all()


def test_answers_only_for_its_own_rows(table: Path) -> None:
    model, data = load_predictions(table, PredictionColumns(label="y", features=("f1",)))
    assert "queries" not in model.capabilities and model.module is None
    with pytest.raises(MissingCapability, match="only for its own rows"):
        model.predict(data.test.x + 1)


@pytest.mark.parametrize(("columns", "message"), [
    (PredictionColumns(label="y", prediction="pred"), "'pred' not found"),
    (PredictionColumns(label="y", score="nope", sensitive=("race",)), "--score-column 'nope', --sensitive 'race'"),
    (PredictionColumns(label="y", score="risk", proba=("p0", "p1")), "exclude each other"),
    (PredictionColumns(label="y", proba=("p1",)), "one column per class"),
    (PredictionColumns(label="y", proba=("risk", "p1")), "are not probabilities"),
    (PredictionColumns(label="y", features=("prediction",)), "cannot also be the label or a feature"),
])
def test_bad_columns_are_named(table: Path, columns: PredictionColumns, message: str) -> None:
    with pytest.raises(AuditInputError, match=message.replace("(", r"\(")):
        load_predictions(table, columns)


def test_predictions_outside_the_label_classes_are_refused(table: Path) -> None:
    frame = pd.read_csv(table)
    frame.loc[3, "prediction"] = 7
    frame.to_csv(table, index=False)
    with pytest.raises(AuditInputError, match=r"holds value\(s\) \[7\] that are not classes"):
        load_predictions(table, PredictionColumns(label="y"))


def test_cli_exit_2_names_the_missing_column(table: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "audit", "run", "--predictions", str(table), "--label", "y",
                           "--score-column", "riskk", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "--score-column 'riskk'" in done.stderr and "Traceback" not in done.stderr


def test_parquet_files_are_read(table: Path) -> None:
    parquet = table.with_suffix(".parquet")
    pd.read_csv(table).to_parquet(parquet)
    model, data = load_predictions(parquet, PredictionColumns(label="y", score="risk"))
    assert len(data.test) == 120 and torch.equal(data.test.y, torch.tensor(pd.read_csv(table)["y"].to_numpy()))


def test_a_sensitive_input_without_queries_is_insufficient_evidence_not_a_pass(table: Path, tmp_path: Path) -> None:
    from audit.config import load_config
    from audit.session import execute

    cfg = load_config({"predictions": str(table), "label": "y", "sensitive": "group,f1", "features": "f1",
                       "suite": "fairness", "out": str(tmp_path / "out"),
                       "suites": {"fairness": {"resamples": 20, "mitigation": False}}}, project_dir=tmp_path)
    card = execute(cfg).scorecard
    check = next(c for c in card.checks if c.key == "fairness.flip_rate[f1]")
    assert check.verdict.value == "insufficient-evidence" and "flip test not run" in check.reason


def test_predictions_and_a_model_file_exclude_each_other(table: Path, tmp_path: Path) -> None:
    from audit.config import load_config
    from audit.session import load_model_and_data

    cfg = load_config({"predictions": str(table), "label": "y", "model": "m.onnx"}, project_dir=tmp_path)
    with pytest.raises(AuditInputError, match="exclude each other"):
        load_model_and_data(cfg)


def test_a_missing_prediction_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(AuditInputError, match="--predictions"):
        load_predictions(tmp_path / "nope.csv", PredictionColumns(label="y"))
