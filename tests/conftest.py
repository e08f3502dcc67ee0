"""Shared test set-up: one AUDIT_HOME per test session so zoo models train once, and one compute thread.

The models under test are tiny: with several threads, OpenMP/BLAS synchronisation costs more than the
work (10-30x slower on a shared 2-core machine), so tests and the CLI subprocesses they start use one.
"""

from __future__ import annotations

import os
import tempfile

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

if "AUDIT_HOME" not in os.environ:
    os.environ["AUDIT_HOME"] = tempfile.mkdtemp(prefix="audit-home-")


@pytest.fixture(scope="session")
def audit_home() -> str:
    return os.environ["AUDIT_HOME"]
