"""Exceptions with meaning to the runner and CLI."""

from __future__ import annotations


class AuditInputError(Exception):
    """Bad input from the user (flags, config, data, model): exit code 2 with this one message.

    The message names the problem and says what would fix it.
    """


class SuiteSkipped(Exception):
    """Raised by a suite that cannot run on this model/data; the reason is shown to the reviewer."""
