"""Tell what a model file is from its bytes, without unpickling or decompressing anything.

Used so that a bad file is described as what it is (empty, truncated, not a PyTorch file at all) instead of
as whatever the loader happened to fail on.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = 0x80  # torch.save writes protocol 2+, whose stream starts with the PROTO opcode
SNIFF_BYTES = 1 << 20


def _parses_as_pickle(head: bytes) -> bool:
    """Whether the bytes start with one complete pickle stream (opcodes are parsed, never executed)."""
    if len(head) < 2 or head[0] != PICKLE_PROTO or not 2 <= head[1] <= 5:
        return False
    try:
        return any(op.name == "STOP" for op, _, _ in pickletools.genops(io.BytesIO(head)))
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError):
        return False


def _opens_as_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False
    return True


def _has_end_record(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except zipfile.BadZipFile:  # e.g. "zipfiles that span multiple disks are not supported"
        return True


def sniff(path: Path) -> str:
    """One of "empty", "zip", "truncated-zip" (also any zip whose directory is damaged), "pickle", "unknown"."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        return "empty"
    if _opens_as_zip(path):
        return "zip"
    if head.startswith(ZIP_MAGIC) or _has_end_record(path):
        return "truncated-zip"
    return "pickle" if _parses_as_pickle(head) else "unknown"


def zip_layout(names: list[str]) -> str:
    """What a zip of PyTorch members holds: "export", "torchscript", "torch-save" or "other"."""
    if any(n.endswith("/archive_format") for n in names) or any("/models/" in n for n in names):
        return "export"
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "torch-save"
    return "other"


def describe(path: Path) -> str:
    """A phrase naming what the file is, for error messages."""
    kind = sniff(path)
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            kind = zip_layout(archive.namelist())
    return {
        "empty": "an empty file",
        "truncated-zip": "a truncated or damaged zip archive",
        "pickle": "a pickle (as written by torch.save without the zip format)",
        "unknown": "not a PyTorch file (neither a zip archive nor a pickle; it may be corrupted)",
        "export": "a torch.export archive",
        "torchscript": "a TorchScript archive",
        "torch-save": "a torch.save file (a state dict or pickled object)",
        "other": "a zip archive that PyTorch did not write",
    }[kind]
