"""One small tabular problem and the same kind of model in three file formats (.pt2, .onnx, .skops)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from audit.testing import train_classifier

FEATURES = ("a", "b", "c", "s")


def write_table(path: Path, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
                          "s": rng.integers(0, 2, n).astype(float)})
    logit = 1.5 * frame["a"] - frame["b"] + 0.8 * frame["s"] + rng.normal(scale=0.7, size=n)
    frame["y"] = (logit > 0).astype(int)
    frame["group"] = np.where(frame["s"] == 1, "f", "m")
    frame.to_csv(path, index=False)
    return frame


def small_mlp(frame: pd.DataFrame) -> nn.Module:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(len(FEATURES), 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.tensor(frame[list(FEATURES)].to_numpy(np.float32))
    return train_classifier(module, x, torch.tensor(frame["y"].to_numpy()), epochs=80)


def save_pt2(module: nn.Module, path: Path) -> Path:
    program = torch.export.export(module.eval(), (torch.randn(8, len(FEATURES)),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    return path


def save_onnx(module: nn.Module, path: Path, softmax: bool = False) -> Path:
    head = nn.Sequential(module, nn.Softmax(dim=1)) if softmax else module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(head.eval(), (torch.randn(4, len(FEATURES)),), str(path), input_names=["features"],
                          output_names=["out"], dynamic_axes={"features": {0: "batch"}, "out": {0: "batch"}},
                          dynamo=False)
    return path


def save_skops(frame: pd.DataFrame, path: Path, estimator: object | None = None) -> object:
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    estimator = estimator if estimator is not None else HistGradientBoostingClassifier(max_iter=30, random_state=0)
    estimator.fit(frame[list(FEATURES)], frame["y"])  # a DataFrame: the estimator remembers the column names
    sio.dump(estimator, path)
    return estimator
