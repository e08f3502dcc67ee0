"""Speed of the model kinds of issue 11: training the scikit-learn zoo reference, and auditing a file of
predictions (accuracy + fairness on the 6,172 COMPAS rows).

    pytest benchmarks/bench_model_kinds.py --benchmark-only

Targets (2-core CPU): adult-gbt trains in under 60 s and reaches the zoo MLP's accuracy (>= 0.84); the COMPAS
prediction-file audit (accuracy and fairness at full settings) finishes in under 60 s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit.config import load_config
from audit.data.reference import load_reference
from audit.models.sklearn_zoo import train_gbt
from audit.session import execute

COMPAS_SCORES = Path(__file__).resolve().parents[1] / "audit" / "data" / "bundled" / "compas-scores.csv.gz"


def test_train_adult_gbt(benchmark) -> None:
    data = load_reference("adult")
    estimator = benchmark.pedantic(train_gbt, args=(data,), rounds=1, iterations=1)
    accuracy = float((estimator.predict(data.test.x.numpy()) == pd.Series(data.class_names)[
        data.test.y.numpy()].to_numpy()).mean())
    benchmark.extra_info["test_accuracy"] = round(accuracy, 4)
    assert accuracy >= 0.84


def test_compas_prediction_file_audit(benchmark, tmp_path) -> None:
    frame = pd.read_csv(COMPAS_SCORES)
    frame["prediction"] = (frame["decile_score"] >= 5).astype(int)
    frame.to_csv(tmp_path / "compas.csv", index=False)
    cfg = load_config({"predictions": str(tmp_path / "compas.csv"), "label": "two_year_recid",
                       "score_column": "decile_score", "sensitive": "race,sex", "features": "priors_count,age",
                       "suite": "accuracy,fairness", "out": str(tmp_path / "out")}, project_dir=tmp_path)
    outcome = benchmark.pedantic(execute, args=(cfg,), rounds=1, iterations=1)
    assert {r.suite: r.status.value for r in outcome.scorecard.results} == {"accuracy": "ok", "fairness": "ok"}
