"""Exceptions with meaning to the runner and CLI."""

from __future__ import annotations

from pathlib import Path


class AuditInputError(Exception):
    """Bad input from the user (flags, config, data, model): exit code 2 with this one message.

    The message names the problem and says what would fix it.
    """


class SuiteSkipped(Exception):
    """Raised by a suite that cannot run on this model/data; the reason is shown to the reviewer."""


def not_a_file(path: Path) -> str:
    """Why `path` is not a file to read, for an input error: it is missing, a folder, or something else (a device
    or a pipe, which is never opened: reading one can block or never end)."""
    if path.is_dir():
        return "is a folder, not a file"
    return "is not a regular file (a device or pipe is never read)" if path.exists() else "does not exist"
