"""Where audit keeps trained zoo models, embeddings and other caches."""

from __future__ import annotations

import os
from pathlib import Path


def audit_home(home: str | Path | None = None) -> Path:
    """The cache root: `home` when given, else $AUDIT_HOME, else ~/.cache/audit."""
    if home is not None:
        return Path(home)
    return Path(os.environ.get("AUDIT_HOME") or Path.home() / ".cache" / "audit")
