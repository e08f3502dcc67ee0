"""Thread counts for CPU work: set inside a block, the caller's restored after it.

The suites' work is many small products; on a busy 2-core runner a second thread spins rather than helps, so
several suites run on one thread. threadpoolctl does not reach torch's own pool once `torch.set_num_threads`
has been called (training does), so torch is set separately.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU thread count set to `n` inside the block, the caller's restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def one_thread(user_api: str | None = None) -> Iterator[None]:
    """torch and the native thread pools (BLAS and OpenMP, or only `user_api`) on one thread inside the block."""
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    with torch_threads(1), threadpool_limits(limits=1, user_api=user_api):
        yield
