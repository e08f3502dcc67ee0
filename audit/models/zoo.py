"""The reference model zoo: trained on first use, cached under $AUDIT_HOME/zoo/<name>/.

The cache holds weights only (safetensors, never pickle) and the recipe + data hash they came from;
a cached model is reused only when both still match, otherwise it is retrained.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from audit.data.reference import load_reference
from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.hashing import file_sha256
from audit.home import audit_home
from audit.models.architectures import build
from audit.models.device import resolve_device
from audit.models.recipes import BASE_RECIPES, recipe_for, recipe_to_json
from audit.models.training import Progress, train_model
from audit.models.types import ModelSource, ModelUnderAudit, Recipe

TEXT_MODEL = "adult-text-minilm"
SKLEARN_MODEL = "adult-gbt"
DEFAULT_ZOO_MODEL = "adult-mlp"
ZOO_MODELS: dict[str, str] = {
    **{name: recipe.description for name, recipe in BASE_RECIPES.items()},
    TEXT_MODEL: "Classifier on frozen all-MiniLM-L6-v2 sentence embeddings of Adult rows as text (needs [foundation])",
    SKLEARN_MODEL: "scikit-learn HistGradientBoostingClassifier on UCI Adult, cached as .skops (no gradients)",
}
CACHE_FORMAT = 1




def _check_name(name: str) -> None:
    if name not in ZOO_MODELS:
        close = difflib.get_close_matches(name, list(ZOO_MODELS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AuditInputError(f"Unknown zoo model {name!r}.{hint} Available: {', '.join(ZOO_MODELS)}.")


def _cache_record(recipe: Recipe, data: Dataset) -> dict[str, object]:
    return {"format": CACHE_FORMAT, "recipe": recipe_to_json(recipe), "data_sha256": data.sha256}


def _cached_module(folder: Path, recipe: Recipe, data: Dataset) -> nn.Module | None:
    weights, record = folder / "model.safetensors", folder / "recipe.json"
    if not (weights.is_file() and record.is_file()):
        return None
    try:
        if json.loads(record.read_text()) != _cache_record(recipe, data):
            return None
        module = build(recipe.architecture, **recipe.arch_kwargs)
        module.load_state_dict(load_file(weights), strict=True)
    except (ValueError, RuntimeError, OSError, SafetensorError):  # corrupt or stale cache: retrain rather than fail
        return None
    return module.eval()


def _write_atomic(path: Path, write: object) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)  # type: ignore[operator]
    os.replace(tmp, path)  # concurrent runs never see a half-written file


def _save(folder: Path, module: nn.Module, recipe: Recipe, data: Dataset) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    _write_atomic(folder / "model.safetensors", lambda p: save_file(state, str(p)))
    text = json.dumps(_cache_record(recipe, data), indent=2, sort_keys=True)
    _write_atomic(folder / "recipe.json", lambda p: p.write_text(text))


def _wrap(name: str, module: nn.Module, recipe: Recipe, data: Dataset, weights: Path, device: str) -> ModelUnderAudit:
    return ModelUnderAudit(
        name=name, module=module.to(device).eval(), task=data.task, n_classes=data.n_classes,
        input_kind=data.input_kind, input_shape=data.input_shape, outputs="logits", device=device,
        capabilities=frozenset({"gradients", "logits", "recipe"}),
        source=ModelSource(kind="zoo", ref=name, sha256=file_sha256(weights)), recipe=recipe,
    )


def _load_text_model(device: str, home: Path) -> tuple[ModelUnderAudit, Dataset]:
    try:
        from audit.foundation.reference import load_text_reference
    except ModuleNotFoundError as error:
        raise AuditInputError(
            f"The zoo model {TEXT_MODEL!r} needs the foundation extra: pip install 'audit[foundation]' ({error})."
        ) from error
    return load_text_reference(device, home)


def _obtain(name: str, device: str, home: str | Path | None, retrain: bool,
            progress: Progress | None) -> tuple[ModelUnderAudit, Dataset]:
    _check_name(name)
    device, root = resolve_device(device), audit_home(home)
    if name == TEXT_MODEL:
        return _load_text_model(device, root)
    if name == SKLEARN_MODEL:
        from audit.models.sklearn_zoo import load_gbt

        return load_gbt(root / "zoo" / name, retrain, progress)
    data = load_reference(BASE_RECIPES[name].dataset)
    recipe = recipe_for(name, data)
    folder = root / "zoo" / name
    module = None if retrain else _cached_module(folder, recipe, data)
    if module is None:
        assert data.train is not None
        module = train_model(recipe, data.train, progress=progress)
        _save(folder, module, recipe, data)
    return _wrap(name, module, recipe, data, folder / "model.safetensors", device), data


def load_zoo_model(name: str = DEFAULT_ZOO_MODEL, device: str = "cpu",
                   home: str | Path | None = None) -> tuple[ModelUnderAudit, Dataset]:
    """A zoo model and the data set it was trained on, from the cache or trained now (CPU, deterministic)."""
    return _obtain(name, device, home, retrain=False, progress=None)


def train_zoo_model(name: str, device: str = "cpu", home: str | Path | None = None,
                    progress: Progress | None = None) -> Path:
    """Train zoo model `name` again (ignoring any cache) for `audit train NAME`; returns the cached weights file.

    For the text model, which caches embeddings rather than weights, returns the cache root.
    """
    _obtain(name, device, home, retrain=True, progress=progress)
    root = audit_home(home)
    weights = "model.skops" if name == SKLEARN_MODEL else "model.safetensors"
    return root if name == TEXT_MODEL else root / "zoo" / name / weights
