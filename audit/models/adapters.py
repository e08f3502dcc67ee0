"""One entry point for a user's model file: the suffix picks the adapter, the adapter states the capabilities.

A file is opened before the data are read (a scikit-learn pipeline fitted on a DataFrame names its input columns,
which then become the default --features), and checked against the data before any suite runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.data.types import Dataset
from audit.errors import AuditInputError, not_a_file
from audit.hashing import file_sha256
from audit.models.types import ModelSource, ModelUnderAudit


@dataclass(frozen=True)
class OpenedModel:
    """A model file read but not yet checked against data: the input columns it names, and how to finish."""

    features: tuple[str, ...] | None
    bind: Callable[[Dataset], ModelUnderAudit]


def open_model_file(path: Path, *, arch: str | None = None, arch_kwargs: dict | None = None,
                    allow_unsafe_load: bool = False, device: str = "auto") -> OpenedModel:
    from audit.models import sklearn_model

    if not path.is_file():
        raise AuditInputError(f"Model file {str(path)!r} {not_a_file(path)}. Check the path given to --model.")
    suffix = path.suffix.lower()
    if suffix in (*sklearn_model.SKOPS_SUFFIXES, *sklearn_model.PICKLE_SUFFIXES):
        estimator = sklearn_model.read_estimator(path, allow_unsafe_load)
        kind = "sklearn" if suffix in sklearn_model.SKOPS_SUFFIXES else "sklearn-pickle"
        source = _source(kind, path)
        return OpenedModel(sklearn_model.expected_features(estimator),
                           lambda data: sklearn_model.sklearn_model(estimator, data, path.stem, source))
    if suffix == ".onnx":
        from audit.models import onnx_model
        from audit.models.device import resolve_device

        resolved = resolve_device(device)
        session = onnx_model.open_session(path, resolved)
        source = _source("onnx", path)
        return OpenedModel(None, lambda data: onnx_model.onnx_model(session, data, path.stem, source, resolved))
    from audit.models.loaders import load_user_model

    return OpenedModel(None, lambda data: load_user_model(path, data=data, arch=arch, arch_kwargs=arch_kwargs,
                                                           allow_unsafe_load=allow_unsafe_load, device=device))


def _source(kind: str, path: Path) -> ModelSource:
    return ModelSource(kind, str(path), file_sha256(path))
