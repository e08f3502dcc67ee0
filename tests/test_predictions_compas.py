"""Reference test: the COMPAS tool's own decisions audited from a prediction file, against fairlearn.

ProPublica's reading (Angwin et al. 2016): "Medium" or "High" risk, decile_score >= 5, is the tool's prediction of
two-year recidivism; error rates by race are the figures in question. Every figure comes from the bundled file
through `audit run --predictions`, and is compared with fairlearn's MetricFrame on the same columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate
from sklearn.metrics import accuracy_score, roc_auc_score

from audit.config import load_config
from audit.session import execute

BUNDLED = Path(__file__).resolve().parents[1] / "audit" / "data" / "bundled" / "compas-scores.csv.gz"
FAST = {"fairness": {"resamples": 50, "proxy_max_rows": 2000}, "accuracy": {"bootstrap_resamples": 50}}


@pytest.fixture(scope="module")
def compas(tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    root = tmp_path_factory.mktemp("compas")
    frame = pd.read_csv(BUNDLED)
    frame["prediction"] = (frame["decile_score"] >= 5).astype(int)
    frame.to_csv(root / "compas.csv", index=False)
    cfg = load_config({"predictions": str(root / "compas.csv"), "label": "two_year_recid",
                       "score_column": "decile_score", "sensitive": "race,sex", "features": "priors_count,age",
                       "out": str(root / "out"), "suites": FAST}, project_dir=root)
    execute(cfg)
    return frame, json.loads((root / "out" / "scorecard.json").read_text())


def _result(card: dict, suite: str) -> dict:
    return next(r for r in card["results"] if r["suite"] == suite)


def test_error_rates_by_race_match_fairlearn(compas) -> None:
    frame, card = compas
    reference = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                            y_true=frame["two_year_recid"], y_pred=frame["prediction"],
                            sensitive_features=frame["race"]).by_group
    groups = next(t for t in _result(card, "fairness")["tables"] if t["id"] == "groups")
    col = {name: i for i, name in enumerate(groups["columns"])}
    ours = {row[col["group"]]: row for row in groups["rows"] if row[col["attribute"]] == "race"}
    assert set(ours) == set(reference.index)
    for race, expected in reference.iterrows():
        assert ours[race][col["fpr"]] == pytest.approx(expected["fpr"], abs=1e-4)  # the table rounds to 4 places
        assert ours[race][col["fnr"]] == pytest.approx(expected["fnr"], abs=1e-4)
    # the disparity the literature reports: African-American defendants who did not reoffend flagged far more often
    assert reference.loc["African-American", "fpr"] > 1.5 * reference.loc["Caucasian", "fpr"]


def test_accuracy_and_auroc_of_the_decile_score_match_sklearn(compas) -> None:
    frame, card = compas
    figures = {m["name"]: m for m in _result(card, "accuracy")["measurements"]}
    assert figures["accuracy"]["value"] == pytest.approx(accuracy_score(frame["two_year_recid"], frame["prediction"]))
    assert figures["auroc"]["value"] == pytest.approx(roc_auc_score(frame["two_year_recid"], frame["decile_score"]))
    for name in ("ece", "brier", "log_loss"):  # a 1-10 decile is a score, not a probability
        assert figures[name]["value"] is None and "not computed" in figures[name]["insufficient_reason"]


def test_scorecard_says_which_suites_could_not_run_and_why(compas) -> None:
    _, card = compas
    status = {r["suite"]: (r["status"], r["reason"]) for r in card["results"]}
    for suite in ("robustness", "explainability", "efficiency"):
        assert status[suite][0] == "skipped" and "answers for new inputs" in status[suite][1]
    assert status["privacy"][0] == "skipped" and "--train-data" in status["privacy"][1]
    assert status["accuracy"][0] == status["fairness"][0] == "ok"
    fairness = _result(card, "fairness")
    assert any("flip test not run" in n for n in fairness["notes"])
    assert any(t["id"] == "mitigation" and t["rows"] for t in fairness["tables"])  # the decile score ranks rows
    assert any(m["name"].startswith("proxy_auroc[") for m in fairness["measurements"])  # --features were given
    assert card["verdict"] == "incomplete"  # required robustness and privacy have no evidence: never a pass
    assert card["config"]["used"]["capabilities"] == ["predict", "score"]


def test_four_fifths_and_insufficient_groups_are_reported(compas) -> None:
    _, card = compas
    fairness = _result(card, "fairness")
    assert any("four-fifths" in n for n in fairness["notes"])
    small = [m for m in fairness["measurements"] if m["name"] == "dp_difference[race]"]
    assert small and "Native American" in (small[0]["insufficient_reason"] or "")
    assert np.isfinite([m["value"] for m in fairness["measurements"] if m["name"] == "dp_difference[sex]"]).all()
