"""Finished remedies kept on disk, so an identical remedy is trained once, not on every run.

A trained remedy (adversarial training, DP-SGD, distillation, the fairness constraint) is stored under the run's
cache folder, keyed by a SHA-256 of everything that determines it: the remedy, its recipe, the training rows (inputs,
labels and the sensitive attribute it uses), the audited model's weights (the image fine-tune's start and the
student's teacher), the threat space, the suite's parameters, the seed, the training code (this package's trainers,
`audit.models.training` and the attack engine) and the torch / opacus versions. Training is seeded and
deterministic on the CPU, so a later run with the same key gets the same weights by loading them; the scorecard says
the remedy was reused, and its training seconds are those of the run that trained it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.suites.remedies.variant import TrainedVariant

FOLDER = "remedies"  # under the run's cache folder
KEEP = 24  # stored remedies (a few hundred KB each); the least recently used go first
_FORMAT = 1


def code_digest() -> str:
    """The code a remedy's weights come from (a change to it makes stored remedies stale)."""
    from audit.models import training
    from audit.suites.remedies import adversarial, distillation, dp_sgd, fairness_constrained, jobs, store
    from audit.suites.robustness import threat, torch_pgd

    parts = [inspect.getsource(m) for m in (training, adversarial, distillation, dp_sgd, fairness_constrained, jobs,
                                            store, threat, torch_pgd)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def versions() -> dict[str, str]:
    """torch's and opacus' versions (read from the installed metadata: importing opacus takes a second)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"torch": torch.__version__}
    try:
        out["opacus"] = version("opacus")
    except PackageNotFoundError:  # pragma: no cover - the suite needs opacus for DP-SGD only
        out["opacus"] = "absent"
    return out


def _tensor(digest: Any, t: torch.Tensor) -> None:  # noqa: ANN401 - a hashlib hash
    t = t.detach().cpu().contiguous()
    digest.update(str((tuple(t.shape), t.dtype)).encode())
    digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def remedy_key(name: str, settings: dict[str, Any], tensors: Iterable[torch.Tensor], modules: Iterable[nn.Module],
               code: str) -> str:
    """SHA-256 of the remedy's name, JSON settings, tensors (training rows, labels, ...) and modules' weights."""
    digest = hashlib.sha256(json.dumps({"remedy": name, "format": _FORMAT, "code": code, "versions": versions(),
                                        "settings": settings}, sort_keys=True, default=str).encode())
    for t in tensors:
        _tensor(digest, t)
    for module in modules:
        for key, t in module.state_dict().items():
            digest.update(key.encode())
            _tensor(digest, t)
    return digest.hexdigest()


def trained_or_stored(cache: Path | None, key: str, name: str, skeleton: Callable[[], nn.Module],
                      train: Callable[[], TrainedVariant]) -> TrainedVariant:
    """The remedy `name` stored under `key` (its weights loaded into `skeleton()`), else `train()`, stored for next
    time. A stored file that names another key or remedy is not used (a copied or edited cache file)."""
    path = None if cache is None else cache / FOLDER / f"{key[:32]}.safetensors"
    if path is not None and path.is_file():
        loaded = _load(path, skeleton, key, name)
        if loaded is not None:
            return loaded
    variant = train()
    if path is not None:
        _store(path, variant, key)
    return variant


def reused_words(variant: TrainedVariant) -> str:
    return ("; reused from an earlier run's identical training (same recipe, training rows, audited weights, "
            "settings, seed and training code; deterministic on the CPU), its training seconds those of that run"
            if variant.details.get("reused_training") else "")


def _store(path: Path, v: TrainedVariant, key: str) -> None:
    from safetensors.torch import save_file

    meta = {"key": key, "name": v.name, "how": v.how, "training_s": v.training_s,
            "trainable_parameters": v.trainable_parameters, "parameters": v.parameters, "outputs": v.outputs,
            "details": dict(v.details)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({k: t.detach().cpu().contiguous().clone() for k, t in v.module.state_dict().items()}, str(tmp),
                  metadata={"variant": json.dumps(meta, default=str)})
        tmp.replace(path)
        stored = sorted(path.parent.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in stored[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only or full cache folder: the remedy is simply trained again next time
        return


def _load(path: Path, skeleton: Callable[[], nn.Module], key: str, name: str) -> TrainedVariant | None:
    """None when the file is unreadable, records another key or remedy, or does not fit the skeleton (the remedy
    is then trained and stored again)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["variant"])
        if meta["key"] != key or meta["name"] != name:
            return None
        module = skeleton()
        module.load_state_dict(load_file(str(path)), strict=True)
        variant = TrainedVariant(
            name=str(meta["name"]), module=module.eval(), how=str(meta["how"]), training_s=float(meta["training_s"]),
            trainable_parameters=int(meta["trainable_parameters"]), parameters=int(meta["parameters"]),
            outputs=str(meta["outputs"]), details={**meta["details"], "reused_training": True})
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, SafetensorError):
        return None
    os.utime(path)  # recently used: kept when older remedies are dropped
    return dataclasses.replace(variant, how=variant.how + reused_words(variant))
