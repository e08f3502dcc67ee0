"""Done-when of the model kinds: the same small MLP as .pt2 and .onnx, and a scikit-learn model as .skops, each get a
full-preset scorecard; accuracy equals scikit-learn's on the model's own predictions; no gradient-free model gets a
white-box figure, and every suite it cannot run says why."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnxruntime
import pytest
import torch
from model_kinds import FEATURES, save_onnx, save_pt2, save_skops, small_mlp, write_table
from sklearn.metrics import accuracy_score

from audit.config import load_config
from audit.session import execute
from audit.suites.robustness.params import RobustnessParams

_ROBUSTNESS = {"n_rows": 40, "n_blackbox": 10, "blackbox_queries": 10, "sweep": "quick", "pgd_steps": 3,
               "run_apgd": False, "run_l2": False, "n_deepfool": 5, "decision_iterations": 2,
               "decision_max_evals": 10}
FAST = {
    "accuracy": {"bootstrap_resamples": 30},
    "fairness": {"resamples": 30},
    "robustness": {k: v for k, v in _ROBUSTNESS.items() if k in {f.name for f in dataclasses.fields(RobustnessParams)}},
    "explainability": {"n_explain": 10, "kernel_max_rows": 5, "nsamples": 20, "n_background": 10,
                       "kernel_background": 5, "permutation_rows": 60, "permutation_repeats": 1, "n_local": 1,
                       "bootstrap_resamples": 30},
    "privacy": {"shadow_models": 0},
    "data": {},
}
WHITE_BOX = ("fgsm", "pgd", "apgd", "deepfool")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[dict, np.ndarray]]:
    """Scorecard and the model's own predictions (computed without the audit) for each file kind."""
    root = tmp_path_factory.mktemp("kinds")
    frame = write_table(root / "d.csv")
    mlp = small_mlp(frame)
    x = frame[list(FEATURES)].to_numpy(np.float32)
    with torch.no_grad():
        torch_pred = mlp(torch.tensor(x)).argmax(dim=1).numpy()
    session = onnxruntime.InferenceSession(str(save_onnx(mlp, root / "mlp.onnx")))
    onnx_pred = session.run(None, {"features": x})[0].argmax(axis=1)
    estimator = save_skops(frame, root / "gbt.skops")
    files = {"pt2": (save_pt2(mlp, root / "mlp.pt2"), torch_pred), "onnx": (root / "mlp.onnx", onnx_pred),
             "skops": (root / "gbt.skops", estimator.predict(frame[list(FEATURES)]))}
    out = {}
    for kind, (path, predictions) in files.items():
        cfg = load_config({"model": str(path), "data": str(root / "d.csv"), "label": "y", "sensitive": "group",
                           "features": ",".join(FEATURES), "suite": "full", "out": str(root / kind), "suites": FAST},
                          project_dir=root)
        execute(cfg)
        out[kind] = (json.loads((root / kind / "scorecard.json").read_text()), predictions)
    out["labels"] = ({}, frame["y"].to_numpy())
    return out


def _suite(card: dict, name: str) -> dict:
    return next(r for r in card["results"] if r["suite"] == name)


@pytest.mark.parametrize("kind", ["pt2", "onnx", "skops"])
def test_full_preset_scorecard_is_complete_and_accuracy_matches_sklearn(runs, kind: str) -> None:
    card, predictions = runs[kind]
    assert card["complete"] and card["run"]["preset"] == "full"
    assert not [r["suite"] for r in card["results"] if r["status"] == "error"], card["results"]
    for result in card["results"]:
        assert result["status"] == "ok" or result["reason"], result["suite"]  # every skip says why
    accuracy = next(m for m in _suite(card, "accuracy")["measurements"] if m["name"] == "accuracy")
    assert accuracy["value"] == pytest.approx(accuracy_score(runs["labels"][1], predictions))
    assert _suite(card, "fairness")["status"] == "ok"


def test_the_same_mlp_as_pt2_and_onnx_gives_the_same_accuracy(runs) -> None:
    values = [next(m["value"] for m in _suite(runs[k][0], "accuracy")["measurements"] if m["name"] == "auroc")
              for k in ("pt2", "onnx")]
    assert values[0] == pytest.approx(values[1], abs=1e-6)


@pytest.mark.parametrize("kind", ["onnx", "skops"])
def test_a_gradient_free_model_never_gets_a_white_box_figure(runs, kind: str) -> None:
    card, _ = runs[kind]
    assert "gradients" not in card["config"]["used"]["capabilities"]
    for result in card["results"]:
        names = " ".join(m["name"] for m in result["measurements"]).lower()
        assert not any(f"[{attack}" in names or f"{attack}," in names for attack in WHITE_BOX), result["suite"]
    explain = _suite(card, "explainability")
    if explain["status"] == "ok":
        methods = {m["details"].get("method") for m in explain["measurements"] if "method" in m["details"]}
        assert methods <= {"kernel", None}, methods
    efficiency = _suite(card, "efficiency")  # ONNX: measured on onnxruntime; scikit-learn: no variant yet
    assert efficiency["status"] == ("ok" if kind == "onnx" else "skipped") and (kind == "onnx" or efficiency["reason"])


def test_the_pt2_model_keeps_its_white_box_paths(runs) -> None:
    card, _ = runs["pt2"]
    assert {"gradients", "torch"} <= set(card["config"]["used"]["capabilities"])
    assert _suite(card, "efficiency")["status"] == "ok"
