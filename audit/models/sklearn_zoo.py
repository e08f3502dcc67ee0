"""The zoo's scikit-learn reference: `adult-gbt`, a HistGradientBoostingClassifier on UCI Adult.

Trained deterministically (fixed random_state, no early stopping, one thread) on the same encoded rows as
adult-mlp, cached as $AUDIT_HOME/zoo/adult-gbt/model.skops beside a record of its settings and data hash, and
read back through the same trusted-types check as a user's .skops file. It has no training recipe in the torch
sense (no shadow models or remedies) and no gradients: it exercises the black-box paths of every suite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from audit.data.reference import load_reference
from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.hashing import file_sha256
from audit.models.sklearn_model import read_skops, sklearn_model
from audit.models.training import Progress
from audit.models.types import ModelSource, ModelUnderAudit

NAME = "adult-gbt"
CACHE_FORMAT = 1
GBT_PARAMS: dict[str, Any] = {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "early_stopping": False,
                              "random_state": 0}


def _record(data: Dataset) -> dict[str, Any]:
    import sklearn

    return {"format": CACHE_FORMAT, "params": GBT_PARAMS, "data_sha256": data.sha256, "sklearn": sklearn.__version__}


def train_gbt(data: Dataset) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    assert data.train is not None
    labels = np.asarray(data.class_names)[data.train.y.numpy()]  # classes_ are then the data's class names
    with threadpool_limits(limits=1):  # the same trees whatever the machine's core count
        return HistGradientBoostingClassifier(**GBT_PARAMS).fit(data.train.x.numpy(), labels)


def _cached(folder: Path, data: Dataset) -> Any | None:
    weights, record = folder / "model.skops", folder / "recipe.json"
    if not (weights.is_file() and record.is_file()):
        return None
    try:
        if json.loads(record.read_text()) != _record(data):
            return None
        return read_skops(weights, allow_unsafe_load=False)
    except (AuditInputError, ValueError, OSError):  # stale or damaged cache: retrain rather than fail
        return None


def _save(folder: Path, estimator: Any, data: Dataset) -> None:
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    for name, write in (("model.skops", lambda p: sio.dump(estimator, p)),
                        ("recipe.json", lambda p: p.write_text(json.dumps(_record(data), indent=2, sort_keys=True)))):
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        write(tmp)
        os.replace(tmp, folder / name)  # concurrent runs never see a half-written file


def load_gbt(folder: Path, retrain: bool = False, progress: Progress | None = None) -> tuple[ModelUnderAudit, Dataset]:
    data = load_reference("adult")
    estimator = None if retrain else _cached(folder, data)
    if estimator is None:
        if progress is not None:
            progress(0, 1)
        _save(folder, train_gbt(data), data)
        estimator = read_skops(folder / "model.skops", allow_unsafe_load=False)
    weights = folder / "model.skops"
    model = sklearn_model(estimator, data, NAME, ModelSource("zoo", NAME, file_sha256(weights)))
    return model, data
