"""Where every figure came from: versions, hashes, device, seed source, git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from audit import __version__
from audit.data.types import Dataset
from audit.models.types import ModelUnderAudit
from audit.types import Provenance

_PACKAGES = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "fairlearn", "adversarial-robustness-toolbox",
             "shap", "safetensors", "sentence-transformers")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(cwd: Path = Path(".")) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "cpu"


def collect(model: ModelUnderAudit, data: Dataset, config_sha256: str) -> Provenance:
    return Provenance(
        audit_version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=package_versions(),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        device_name=device_name(model.device),
        model_sha256=model.source.sha256,
        model_source=f"{model.source.kind}:{model.source.ref}",
        data_sha256=data.sha256,
        data_source=data.source,
        config_sha256=config_sha256,
        git_commit=git_commit(),
    )
