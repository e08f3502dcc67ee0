"""scikit-learn estimators and pipelines, read from .skops files through skops' trusted-types check.

Nothing is unpickled: `skops.io` rebuilds the object from a schema and refuses every type it is not told to
trust. We trust a type only if its top-level package is on an allow-list (scikit-learn, numpy, scipy, and
xgboost/lightgbm when installed); anything else needs --allow-unsafe-load. Pickles (.pkl, .joblib) run code
when loaded and are refused without that flag. What the estimator can do decides its capabilities:
`predict_proba` gives probabilities, `decision_function` a score, `predict` alone only classes. No gradients.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.hashing import file_sha256
from audit.models.types import ModelSource, ModelUnderAudit, QueryOnlyModule

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
_ALWAYS_TRUSTED = ("sklearn", "numpy", "scipy")
_TRUSTED_IF_INSTALLED = ("xgboost", "lightgbm")
UNSAFE_FLAG = "--allow-unsafe-load"
SAVE_WITH_SKOPS = ("Save it with skops instead: `import skops.io as sio; sio.dump(model, \"model.skops\")` "
                   "(pip install skops), then pass the .skops file")
PROBE_ROWS = 256


def trusted_roots() -> tuple[str, ...]:
    """Top-level packages whose types a .skops file may contain without --allow-unsafe-load."""
    extra = tuple(name for name in _TRUSTED_IF_INSTALLED if importlib.util.find_spec(name) is not None)
    return _ALWAYS_TRUSTED + extra


def _import_skops() -> Any:
    try:
        import skops.io
    except ModuleNotFoundError:
        raise AuditInputError("Reading .skops models needs skops: pip install 'audit[sklearn]'") from None
    return skops.io


def read_skops(path: Path, allow_unsafe_load: bool) -> Any:
    """The estimator in `path`, trusting only allow-listed types (all types with `allow_unsafe_load`)."""
    sio = _import_skops()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # noqa: BLE001 - a damaged or foreign file fails in many ways inside skops
        raise AuditInputError(f"{path.name!r} is not a readable .skops file: {_first_line(error)}") from None
    roots = trusted_roots()
    refused = [name for name in untrusted if name.split(".", 1)[0] not in roots]
    if refused and not allow_unsafe_load:
        raise AuditInputError(
            f"{path.name!r} contains types outside {', '.join(roots)}: {', '.join(sorted(refused)[:5])}. Loading "
            f"them could run code; pass {UNSAFE_FLAG} only if you trust the file's author."
        )
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as error:  # noqa: BLE001
        raise AuditInputError(f"Could not load {path.name!r} with skops: {_first_line(error)}") from None


def read_pickle(path: Path, allow_unsafe_load: bool) -> Any:
    if not allow_unsafe_load:
        raise AuditInputError(
            f"{path.name!r} is a pickle, and unpickling runs whatever code the file contains. {SAVE_WITH_SKOPS}; "
            f"or pass {UNSAFE_FLAG} only if you trust the file's author."
        )
    import joblib  # ships with scikit-learn; reads plain pickles too

    try:
        return joblib.load(path)
    except Exception as error:  # noqa: BLE001
        raise AuditInputError(f"Could not unpickle {path.name!r}: {_first_line(error)}") from None


def read_estimator(path: Path, allow_unsafe_load: bool) -> Any:
    suffix = path.suffix.lower()
    estimator = read_skops(path, allow_unsafe_load) if suffix in SKOPS_SUFFIXES else read_pickle(
        path, allow_unsafe_load)
    if not callable(getattr(estimator, "predict", None)):
        raise AuditInputError(f"{path.name!r} holds a {type(estimator).__name__}, not a fitted classifier with "
                              "predict(); save the fitted estimator or pipeline itself.")
    return estimator


def expected_features(estimator: Any) -> tuple[str, ...] | None:
    """The column names the estimator was fitted on (pipelines fitted on a DataFrame have them), else None."""
    names = getattr(estimator, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else None


class SklearnBackend:
    """Feeds the audit's float32 rows to the estimator (as a DataFrame with its own column names if it has them)."""

    def __init__(self, estimator: Any, columns: Sequence[str] | None, method: str | None,
                 exact: dict[bytes, np.ndarray] | None = None):
        self.estimator, self.columns, self.method, self.exact = estimator, columns, method, exact or {}
        self._index = {c: i for i, c in enumerate(estimator.classes_)}

    def _exact(self, x: np.ndarray) -> np.ndarray:
        """The audit's float32 rows back at the file's float64 values (a float32 cast can cross a tree threshold);
        rows the file does not hold (perturbed by an attack) are used as they are."""
        if not self.exact or x.dtype != np.float32:
            return x
        out = x.astype(np.float64)
        for i, row in enumerate(x):
            hit = self.exact.get(row.tobytes())
            if hit is not None:
                out[i] = hit
        return out

    def _frame(self, x: np.ndarray) -> Any:
        x = self._exact(x)
        if self.columns is None:
            return x
        import pandas as pd

        return pd.DataFrame(x, columns=list(self.columns))

    def outputs(self, x: np.ndarray) -> np.ndarray:
        assert self.method is not None
        with _one_thread():
            out = np.asarray(getattr(self.estimator, self.method)(self._frame(x)), dtype=np.float64)
        if out.ndim == 1:  # binary decision_function: the score of classes_[1]
            out = np.stack([np.zeros_like(out), out], axis=1)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        with _one_thread():
            labels = self.estimator.predict(self._frame(x))
        return np.array([self._index[v] for v in labels], dtype=np.int64)


@functools.cache
def _thread_controller() -> Any:
    from threadpoolctl import ThreadpoolController  # ships with scikit-learn

    return ThreadpoolController()


def _one_thread() -> Any:
    """OpenMP and BLAS at one thread per call: black-box attacks ask about a few rows thousands of times, and an
    OpenMP team per call costs far more than the work (measured on a busy 2-core machine, adult-gbt on 5 rows:
    306 ms a call with the default threads, 5 ms with one)."""
    return _thread_controller().limit(limits=1)


def _method(estimator: Any, probe: Any) -> str | None:
    """predict_proba, else decision_function, else None: the first the fitted estimator actually answers."""
    for name in ("predict_proba", "decision_function"):
        try:
            if callable(getattr(estimator, name, None)):
                getattr(estimator, name)(probe)
                return name
        except (AttributeError, NotImplementedError):  # e.g. SVC(probability=False).predict_proba
            continue
    return None


def _check_classes(estimator: Any, data: Dataset, name: str) -> None:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise AuditInputError(f"{name!r} has no classes_: it is not a fitted classifier.")
    if tuple(str(c) for c in classes) != tuple(data.class_names):
        raise AuditInputError(f"{name!r} predicts classes {[str(c) for c in classes]} but the label column has "
                              f"{list(data.class_names)}; audit it on data with the same labels.")


def _columns(estimator: Any, data: Dataset, name: str) -> tuple[str, ...] | None:
    wanted = expected_features(estimator)
    width = int(np.prod(data.input_shape))
    if wanted is None:
        fitted = getattr(estimator, "n_features_in_", width)
        if fitted != width:
            raise AuditInputError(f"{name!r} was fitted on {fitted} input columns but the data gives {width} "
                                  f"({', '.join(data.feature_names)}); list the model's inputs with --features.")
        return None
    if tuple(data.feature_names) != wanted:
        raise AuditInputError(f"{name!r} expects the columns {list(wanted)} (in that order) but the data gives "
                              f"{list(data.feature_names)}; pass --features {','.join(wanted)}.")
    return wanted


def exact_rows(data: Dataset) -> dict[bytes, np.ndarray]:
    """float32 row bytes -> the file's float64 values, for user data whose feature columns are in the raw file."""
    exact: dict[bytes, np.ndarray] = {}
    for split in (data.train, data.test):
        raw = None if split is None else split.raw
        if raw is None or not set(data.feature_names) <= set(raw.columns):
            continue
        values = raw[list(data.feature_names)].to_numpy(dtype=np.float64)
        for row in values:
            exact.setdefault(row.astype(np.float32).tobytes(), row)
    return exact


def sklearn_model(estimator: Any, data: Dataset, name: str, source: ModelSource) -> ModelUnderAudit:
    """Wrap a fitted estimator after checking it on a probe batch of the audit data (exit 2 if it does not fit)."""
    if data.input_kind != "tabular":
        raise AuditInputError(f"{name!r} is a scikit-learn model; it can be audited on tabular data only.")
    _check_classes(estimator, data, name)
    columns = _columns(estimator, data, name)
    probe = data.test.x[:PROBE_ROWS].numpy()
    backend = SklearnBackend(estimator, columns, None, exact_rows(data))
    try:
        backend.method = _method(estimator, backend._frame(probe))
        backend.predict(probe)
    except Exception as error:  # noqa: BLE001 - any failure on the probe batch is a model/data mismatch
        raise AuditInputError(f"{name!r} failed on the audit data: {_first_line(error)}") from None
    outputs = {"predict_proba": "probabilities", "decision_function": "scores", None: "labels"}[backend.method]
    capabilities = {"predict", "queries"} | ({"score"} if backend.method else set())
    capabilities |= {"predict_proba"} if backend.method == "predict_proba" else set()
    how = {"predict_proba": "probabilities from predict_proba",
           "decision_function": "scores from decision_function (no probabilities: calibration not computed)",
           None: "classes from predict only (no scores or probabilities)"}[backend.method]
    return ModelUnderAudit(
        name=name, module=QueryOnlyModule(backend) if backend.method else None, task=data.task,
        n_classes=data.n_classes, input_kind="tabular", input_shape=data.input_shape, outputs=outputs, device="cpu",
        capabilities=frozenset(capabilities), source=source, backend=backend,
        description=f"scikit-learn {type(estimator).__name__}: {how}; no gradients (black-box only)",
    )


def load_sklearn_model(path: Path, data: Dataset, allow_unsafe_load: bool = False) -> ModelUnderAudit:
    estimator = read_estimator(path, allow_unsafe_load)
    kind = "sklearn" if path.suffix.lower() in SKOPS_SUFFIXES else "sklearn-pickle"
    return sklearn_model(estimator, data, path.stem, ModelSource(kind, str(path), file_sha256(path)))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
