"""SHA-256 of files, streamed (bounded memory): the one implementation every model, data and encoder digest uses."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of one file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def files_sha256(paths: Iterable[Path | str], with_names: bool = False) -> str:
    """Hex SHA-256 over several files' bytes in the given order (each preceded by its base name if `with_names`).

    Equals the SHA-256 of the files concatenated (names included), without reading any whole file into memory.
    """
    digest = hashlib.sha256()
    for path in map(Path, paths):
        if with_names:
            digest.update(path.name.encode())
        with path.open("rb") as handle:
            hashlib.file_digest(handle, lambda: digest)  # streams into the one running digest
    return digest.hexdigest()
