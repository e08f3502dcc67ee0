"""Suites in parallel on Ray: a local instance (loopback only) or a cluster joined with --ray-address.

The audit (model, data, plan) goes into Ray's object store once per wave; each suite runs as one task with the
runner's own seeding, so its figures equal the local executor's. A task asks for a GPU when the model is on one.
Results come back to the driver, which writes scorecard.json and the evidence files. A suite's finished parts
(checkpoints/) are written where the suite runs: the run folder itself on a local instance; on a remote cluster
the worker's disk, so --resume reuses them only where the run folder is shared with the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from audit.errors import AuditInputError
from audit.executors import dependency_waves
from audit.executors.forked import SuiteWork
from audit.executors.tasks import RayTasks

T = TypeVar("T")
R = TypeVar("R")
LOCAL_CPUS = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AuditInputError("--executor ray needs Ray: pip install 'audit[ray]' (or 'ray>=2.9')") from None
    return ray


def _check_address(address: str | None) -> None:
    if address is None or address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AuditInputError(f"--ray-address must be auto or HOST:PORT (e.g. 10.0.0.5:6379); got {address!r}")


def connect(address: str | None) -> tuple[Any, bool]:
    """Ray, joined to `address` or to a private instance on this machine (loopback only, no dashboard); the bool
    says whether this call started it. Inside a Ray task Ray is already initialised and is used as it is."""
    ray = _ray()
    if ray.is_initialized():
        return ray, False
    if address:
        ray.init(address=address, log_to_driver=False)
        return ray, False
    ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    return ray, True


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        _check_address(address)
        self.address = address
        self._ray = _ray()
        self._started_here = False
        self.tasks = RayTasks(address)  # fan-out inside a suite (SuiteContext.fan_out) runs as Ray tasks too

    def _connect(self) -> None:
        self._started_here |= connect(self.address)[1]

    def describe(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "a private Ray instance on this machine"
        return (f"on {where}: each a task of one CPU, in waves of suites whose reads have finished; timing "
                "suites alone")

    def run_suites(self, work: SuiteWork[T, R], items: Sequence[T], parallel_ok: bool) -> Iterator[tuple[T, R]]:
        """Waves of suites (a suite waits for those it reads), each wave's suites as Ray tasks side by side; a
        suite that times things runs as a wave of its own, so no other suite shares the cluster while it times."""
        for wave in dependency_waves(items, work.reads):
            together = [i for i in wave if not work.runs_alone(i)]
            for group in ([together] if together else []) + [[i] for i in wave if work.runs_alone(i)]:
                for item in group:
                    work.started(item)
                yield from zip(group, self._map(work.fn, work.shared, dict(work.finished()), group), strict=True)

    def _map(self, fn: Callable[..., R], shared: Any, previous: Any, items: Sequence[T]) -> Iterator[R]:
        self._connect()
        ray = self._ray
        gpus = 1 if str(getattr(getattr(shared, "model", None), "device", "cpu")).startswith("cuda") else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(fn)
        shared_ref, previous_ref = ray.put(shared), ray.put(previous)
        refs = [task.remote(shared_ref, previous_ref, item, None) for item in items]
        yield from ray.get(refs)  # in the wave's order, so the scorecard's order does not depend on timing

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()
