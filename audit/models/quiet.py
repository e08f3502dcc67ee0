"""Keep torch's log records and warnings off the terminal while a model file is read."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_torch() -> Iterator[None]:
    """Silence logging and warnings (torch prints whole tracebacks as warnings) for the duration.

    A failure becomes one AuditInputError message; what torch would have printed adds nothing to it.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
