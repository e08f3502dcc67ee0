"""Load the user's own model file without running code from it.

Formats: torch.export programs (.pt2, checked against an allow-list before torch reads them, see
pt2_archive.py), safetensors weights + an architecture the user names,
state dicts (.pt/.pth, read with weights_only=True), and TorchScript only with allow_unsafe_load.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.data.types import Dataset
from audit.errors import AuditInputError, not_a_file
from audit.hashing import file_sha256
from audit.models.architectures import ARCHITECTURES, build
from audit.models.device import resolve_device
from audit.models.file_kinds import describe, sniff
from audit.models.pt2_archive import check_export_archive, check_guard_free
from audit.models.quiet import quiet_torch
from audit.models.types import ModelSource, ModelUnderAudit
from audit.models.validation import check_model
from audit.models.zip_limits import check_zip_directory

UNSAFE_FLAG = "--allow-unsafe-load"
SAVE_STATE_DICT = "Save the weights with torch.save(model.state_dict(), path) and pass --arch."


def _zip_names(path: Path) -> list[str]:
    if sniff(path) != "zip":
        return []
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def is_torchscript(path: Path) -> bool:
    """TorchScript archives carry Python source (code/) and constants.pkl; state dicts do not."""
    return any("/code/" in n or n.endswith("/constants.pkl") for n in _zip_names(path))


@contextlib.contextmanager
def _weights_only_everywhere() -> Iterator[None]:
    """Make every torch.load inside (including torch.export's own) refuse arbitrary pickles."""
    previous = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = previous


def _check_zip_limits(path: Path) -> None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            check_zip_directory(archive, path.stat().st_size, repr(path.name))


class ExportedModule(nn.Module):
    """Holds a torch.export graph; its train/eval mode was fixed at export time and cannot be switched."""

    def __init__(self, graph: nn.Module):
        super().__init__()
        self.graph = graph

    def train(self, mode: bool = True) -> ExportedModule:
        self.training = mode  # not propagated: exported graphs refuse train()/eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x.clone())  # a graph may write to its input in place: never to the audit's data


def _load_export(path: Path, allow_unsafe_load: bool) -> nn.Module:
    if allow_unsafe_load:
        check_guard_free(path)  # a trusted file still may not be a zip bomb or carry guard code
    else:
        check_export_archive(path)  # the allow-list: refuses anything beyond a plain exported module
    guard = contextlib.nullcontext() if allow_unsafe_load else _weights_only_everywhere()
    try:
        with guard, quiet_torch():
            program = torch.export.load(str(path))
            graph = program.module(check_guards=False)  # guard code from a file is never turned into code
    except Exception as error:  # noqa: BLE001 - whatever torch fails on, the file is the problem
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:300]
        raise AuditInputError(
            f"Could not load torch.export program {path.name!r}: {first_line}. Re-export it with this "
            "version of torch (torch.export.save)."
        ) from error
    return ExportedModule(graph)


def _import_architecture(arch: str) -> type[nn.Module]:
    if arch in ARCHITECTURES:
        return ARCHITECTURES[arch]  # type: ignore[return-value]
    module_name, _, class_name = arch.partition(":")
    if not module_name or not class_name:
        raise AuditInputError(
            f"--arch {arch!r} must be 'package.module:ClassName' (your own model class) "
            f"or a built-in architecture: {', '.join(ARCHITECTURES)}."
        )
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise AuditInputError(f"Cannot import --arch {arch!r}: {error}. Is its package on PYTHONPATH?") from error
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise AuditInputError(f"--arch {arch!r} is not a torch.nn.Module subclass.")
    return found


def _from_state_dict(state: Mapping[str, Any], path: Path, arch: str | None, arch_kwargs: dict | None) -> nn.Module:
    if arch is None:
        raise AuditInputError(
            f"{path.name!r} holds weights only (a state dict). Name the model class with "
            "--arch package.module:ClassName (and --arch-kwargs JSON for its constructor arguments)."
        )
    if arch_kwargs is not None and not isinstance(arch_kwargs, Mapping):
        raise AuditInputError(
            f"--arch-kwargs must be a JSON object of constructor arguments, e.g. '{{\"hidden\": [64]}}', "
            f"not a {type(arch_kwargs).__name__}."
        )
    cls = _import_architecture(arch)
    if arch in ARCHITECTURES:
        module = build(arch, **(arch_kwargs or {}))  # validates the kwargs: bad ones are an AuditInputError
    else:
        try:
            module = cls(**(arch_kwargs or {}))
        except (TypeError, ValueError, RuntimeError) as error:
            raise AuditInputError(f"Cannot construct {arch} with --arch-kwargs {arch_kwargs}: {error}") from error
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as error:
        raise AuditInputError(f"Weights in {path.name!r} do not fit {arch}: {error}") from error
    return module


def _load_safetensors(path: Path, arch: str | None, arch_kwargs: dict | None) -> nn.Module:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise AuditInputError(f"{path.name!r} is not a valid safetensors file: {error}") from error
    return _from_state_dict(state, path, arch, arch_kwargs)


def _read_weights_file(path: Path) -> object:
    """torch.load(weights_only=True) of a file known to be a zip or a pickle; other files are refused first."""
    kind = sniff(path)
    if kind not in ("zip", "pickle"):
        raise AuditInputError(f"{path.name!r} is {describe(path)}, not a saved state dict. {SAVE_STATE_DICT}")
    _check_zip_limits(path)
    with quiet_torch():
        return torch.load(path, map_location="cpu", weights_only=True)


def _load_pickle_weights(path: Path, arch: str | None, arch_kwargs: dict | None) -> nn.Module:
    try:
        state = _read_weights_file(path)
    except pickle.UnpicklingError as error:
        raise AuditInputError(
            f"{path.name!r} is a pickled Python object (e.g. a whole nn.Module), which cannot be loaded safely: "
            "unpickling runs arbitrary code. Export it with torch.export.save (.pt2), or save "
            "model.state_dict() and pass --arch."
        ) from error
    except AuditInputError:
        raise
    except Exception as error:  # noqa: BLE001 - the restricted unpickler fails on damaged data in many ways
        raise AuditInputError(
            f"{path.name!r} could not be read as a state dict ({describe(path)}): "
            f"{(str(error).splitlines() or [type(error).__name__])[0][:200]}. {SAVE_STATE_DICT}"
        ) from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a common checkpoint layout
    if not (isinstance(state, Mapping) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise AuditInputError(f"{path.name!r} does not hold a state dict of tensors; save model.state_dict().")
    return _from_state_dict(state, path, arch, arch_kwargs)


def _load_torchscript(path: Path, allow_unsafe_load: bool) -> nn.Module:
    if not allow_unsafe_load:
        raise AuditInputError(
            f"{path.name!r} is a TorchScript archive, which contains code that runs when loaded. "
            f"Pass {UNSAFE_FLAG} only if you trust its author, or export it with torch.export (.pt2)."
        )
    _check_zip_limits(path)
    try:
        with quiet_torch():
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # noqa: BLE001 - whatever torch fails on, the file is the problem
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:300]
        raise AuditInputError(f"Could not load TorchScript archive {path.name!r}: {first_line}.") from error


def _load_module(
    path: Path, arch: str | None, arch_kwargs: dict | None, allow_unsafe_load: bool
) -> tuple[nn.Module, str]:
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        return _load_export(path, allow_unsafe_load), "export"
    if suffix == ".safetensors":
        return _load_safetensors(path, arch, arch_kwargs), "safetensors"
    if suffix in (".pt", ".pth", ".ts") and is_torchscript(path):
        return _load_torchscript(path, allow_unsafe_load), "torchscript"
    if suffix in (".pt", ".pth"):
        return _load_pickle_weights(path, arch, arch_kwargs), "state-dict"
    raise AuditInputError(
        f"Unsupported model file {path.name!r}: use a torch.export program (.pt2), safetensors weights with --arch, "
        "a state dict (.pt/.pth) with --arch, or TorchScript (.pt/.ts) with " + UNSAFE_FLAG + "."
    )


def load_user_model(
    path: str | Path, *, data: Dataset, arch: str | None = None, arch_kwargs: dict | None = None,
    allow_unsafe_load: bool = False, device: str = "auto",
) -> ModelUnderAudit:
    """Load and validate the user's model against `data` (a small batch is run before any suite)."""
    path = Path(path)
    if not path.is_file():
        raise AuditInputError(f"Model file {str(path)!r} {not_a_file(path)}. Check the path given to --model.")
    device = resolve_device(device)
    module, kind = _load_module(path, arch, arch_kwargs, allow_unsafe_load)
    checked = check_model(module.to(device), data, device)
    capabilities = {"gradients"} if checked.gradients else set()
    if checked.outputs == "logits":
        capabilities.add("logits")
    return ModelUnderAudit(
        name=path.stem, module=checked.module, task=data.task, n_classes=data.n_classes,
        input_kind=data.input_kind, input_shape=data.input_shape, outputs=checked.outputs, device=device,
        capabilities=frozenset(capabilities), source=ModelSource(kind=kind, ref=str(path), sha256=file_sha256(path)),
    )
