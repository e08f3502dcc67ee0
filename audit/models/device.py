"""Choosing the torch device for an audit."""

from __future__ import annotations

import torch

from audit.errors import AuditInputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" when a GPU is available, else "cpu"; asking for "cuda" without one is an input error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AuditInputError(f"Device {device!r} was requested but no CUDA GPU is available; use --device cpu.")
        return device
    if device == "cpu":
        return device
    raise AuditInputError(f"Unknown device {device!r}; use one of {', '.join(DEVICES)}.")
