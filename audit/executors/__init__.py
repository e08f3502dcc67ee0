"""Where independent work runs: on this machine (local, the default: `--jobs` suites side by side in forked
workers, or one after another with --jobs 1), or on Ray.

An executor runs the planned suites (a suite waits for the suites it declares it reads) and hands back each result
as it finishes. Every suite is seeded by the runner before it runs, so where it runs does not change its figures:
the same seed and inputs give the same scorecard on any executor and any number of jobs. Inside a suite,
independent tasks fan out through the executor's `tasks` (audit.executors.tasks; SuiteContext.fan_out).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from audit.config import MAX_JOBS
from audit.errors import AuditInputError
from audit.executors.forked import SuiteWork, fork_available, run_forked, usable_cores
from audit.executors.tasks import IN_PROCESS, TaskRunner

T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str
    tasks: TaskRunner  # where a suite's own fan-out runs (picklable: it travels with the suite to a Ray worker)

    def run_suites(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> Iterator[tuple[T, R]]:
        """Each item with its result, as it finishes; `parallel_ok` is False where the model cannot be shared with
        forked workers (the executor then runs the items one by one)."""
        ...

    def describe(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> str:
        """How `run_suites` will run these items, in words for the scorecard."""
        ...


class LocalExecutor:
    """This machine: up to `jobs` suites at once in forked workers (audit.executors.forked), or with one job one
    suite at a time in plan order in this process (progress shown live either way). Either way a suite computes
    on one thread (its work is many small products, where a second thread spins rather than helps; and a float sum
    split over threads rounds differently) and a timing suite runs alone on all of them."""

    name = "local"
    tasks: TaskRunner = IN_PROCESS

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def _workers(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> int:
        jobs = min(self.jobs, sum(not work.runs_alone(i) for i in items))
        return jobs if jobs > 1 and parallel_ok and fork_available() else 1

    def describe(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> str:
        workers = self._workers(work, items, parallel_ok)
        if workers > 1:
            return (f"up to {workers} at once in forked workers on this machine (--jobs {self.jobs}), one thread "
                    "each; timing suites alone on all cores")
        why = "" if self.jobs == 1 or parallel_ok else " (only a PyTorch model on the CPU is shared with workers)"
        return f"one at a time on this machine, one thread each{why}; timing suites on all cores"

    def run_suites(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> Iterator[tuple[T, R]]:
        jobs = self._workers(work, items, parallel_ok)
        if jobs > 1:
            yield from run_forked(work, items, jobs)
            return
        from audit.threads import one_thread

        for item in items:
            work.started(item)
            # one thread as in a worker, so one job and many give the same floats; a timing suite uses all cores
            with contextlib.nullcontext() if work.runs_alone(item) else one_thread():
                result = work.fn(work.shared, dict(work.finished()), item, work.progress)
            yield item, result


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def dependency_waves(items: Sequence[N], reads: Mapping[str, frozenset[str]]) -> Iterator[list[N]]:
    """Items (with a `.name`) in waves: each wave holds every item whose reads finished in earlier waves (or are
    not in this run), in the given order."""
    waiting = list(items)
    pending = {i.name for i in items}
    while waiting:
        wave = [i for i in waiting if not (reads.get(i.name, frozenset()) & pending)]
        if not wave:  # the registry refuses cycles; this only guards against a broken plan
            raise AuditInputError("suites read each other's outputs in a cycle; fix their `reads`")
        yield wave
        pending -= {i.name for i in wave}
        waiting = [i for i in waiting if i not in wave]


def make_executor(name: str, ray_address: str | None = None, jobs: int | None = None) -> Executor:
    """`local` (with `jobs` suites at once; default one per usable core) or `ray` (the optional extra
    `audit[ray]`)."""
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise AuditInputError(f"--jobs must be an integer from 1 to {MAX_JOBS}; got {jobs!r}")
    if name == "local":
        if ray_address:
            raise AuditInputError("--ray-address needs --executor ray")
        return LocalExecutor(jobs or usable_cores())  # default: one suite per usable core
    if name == "ray" and jobs is not None:
        raise AuditInputError("--jobs is for the local executor; on Ray each suite is a task of one CPU and the "
                              "cluster's CPUs set how many run at once: leave --jobs out")
    if name == "ray":
        from audit.executors.ray_executor import RayExecutor

        return RayExecutor(ray_address)
    raise AuditInputError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}")


__all__ = ["EXECUTORS", "MAX_JOBS", "Executor", "LocalExecutor", "SuiteWork", "dependency_waves", "make_executor"]
