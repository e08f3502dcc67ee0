"""Refuse zip archives (.pt2, torch.save .pt, TorchScript) that would inflate absurdly, from the directory alone.

The sizes come from the zip's central directory, before anything is decompressed. Python's zipfile never
inflates a member past its declared size and torch's reader fails on a mismatch, so the declared sizes bound
the work a loader can be made to do.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from dataclasses import dataclass

from audit.errors import AuditInputError


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 10_000  # a torch.export of a large model writes one member per tensor
    max_inflated_bytes: int = 64 << 30  # absolute cap on everything a loader would decompress
    max_ratio: float = 20.0  # torch stores tensors uncompressed: ratio about 1
    slack_bytes: int = 16 << 20  # small archives of text compress well; never refuse below this


LIMITS = ZipLimits()


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def check_zip_directory(archive: zipfile.ZipFile, stored_bytes: int, label: str, limits: ZipLimits = LIMITS) -> None:
    """Raise AuditInputError when the archive's member count or inflated size is out of proportion."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise AuditInputError(
            f"{label} has {len(infos):,} members (at most {limits.max_members:,} are accepted): "
            "refusing to read it. Re-save the model with torch.export.save or model.state_dict()."
        )
    duplicates = [name for name, count in Counter(i.filename for i in infos).items() if count > 1]
    if duplicates:
        raise AuditInputError(
            f"{label} names the member {duplicates[0]!r} more than once, so different readers would see "
            "different contents: refusing it. Re-save the model with torch.export.save or torch.save."
        )
    inflated = sum(i.file_size for i in infos)
    ceiling = min(limits.max_inflated_bytes, int(stored_bytes * limits.max_ratio) + limits.slack_bytes)
    if inflated > ceiling:
        raise AuditInputError(
            f"{label} would inflate to {_size(inflated)} from {_size(stored_bytes)} on disk "
            f"(at most {_size(ceiling)} is accepted): refusing a likely zip bomb before decompressing it. "
            "Re-save the model with torch.export.save or torch.save, which store tensors uncompressed."
        )
