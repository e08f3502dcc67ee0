"""Where independent work runs: here, one suite after another (local, the default), or on Ray.

An executor groups the planned suites into waves (a suite waits for the suites it declares it reads) and maps
one function over a wave. Every suite is seeded by the runner before it runs, so where it runs does not change
its figures: the same seed and inputs give the same scorecard on either executor. Inside a suite, independent
tasks fan out through the executor's `tasks` (audit.executors.tasks; SuiteContext.fan_out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from audit.errors import AuditInputError
from audit.executors.tasks import IN_PROCESS, TaskRunner

T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str
    tasks: TaskRunner  # where a suite's own fan-out runs (picklable: it travels with the suite to a Ray worker)

    def waves(self, items: Sequence[T], reads: Mapping[str, frozenset[str]]) -> Iterator[list[T]]: ...

    def map(self, fn: Callable[..., R], shared: Any, previous: Any, items: Sequence[T],
            progress: Any) -> Iterator[R]: ...


class LocalExecutor:
    """Today's behaviour: one suite at a time in plan order, in this process (progress shown live)."""

    name = "local"
    tasks: TaskRunner = IN_PROCESS

    def waves(self, items: Sequence[T], reads: Mapping[str, frozenset[str]]) -> Iterator[list[T]]:
        for item in items:
            yield [item]

    def map(self, fn: Callable[..., R], shared: Any, previous: Any, items: Sequence[T],
            progress: Any) -> Iterator[R]:
        for item in items:
            yield fn(shared, previous, item, progress)


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


def make_executor(name: str, ray_address: str | None = None) -> Executor:
    """`local` or `ray` (the optional extra `audit[ray]`)."""
    if name == "local":
        if ray_address:
            raise AuditInputError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        from audit.executors.ray_executor import RayExecutor

        return RayExecutor(ray_address)
    raise AuditInputError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "dependency_waves", "make_executor"]
