"""Fan-out inside a suite: independent tasks (shadow models, attack shards) run here in order, or as Ray tasks.

A task is a module-level function `task(shared, item, seed) -> result` (picklable, so a Ray worker can import it).
Each item brings its own seed (audit.stats.derive_seed of the run seed, a salt and the item's index) and runs with
Python's, numpy's and torch's global generators seeded from it and restored afterwards, so a task's result depends
only on (shared, item, seed): in process or on a Ray worker, in any order, it is the same figure for figure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from audit.checkpoints import PartCheckpoints, json_form

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")
Task = Callable[[S, T, int], R]


class TaskRunner(Protocol):
    """Runs `task(shared, item, seed)` for each item; yields (index, result) in the order results are ready."""

    def run(self, task: Task[Any, T, R], shared: Any, items: Sequence[T], seeds: Sequence[int],
            gpus: float) -> Iterator[tuple[int, R]]: ...


def seeded_call(task: Task[S, T, R], shared: S, item: T, seed: int) -> R:
    """`task(shared, item, seed)` with the global generators seeded from `seed`, then put back as they were (a task
    in process leaves the suite's own random streams exactly as a task on a Ray worker would)."""
    import numpy as np
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            return task(shared, item, seed)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@dataclass(frozen=True)
class InProcessTasks:
    """The local executor's fan-out: one item after another, in item order, in this process."""

    def run(self, task: Task[Any, T, R], shared: Any, items: Sequence[T], seeds: Sequence[int],
            gpus: float) -> Iterator[tuple[int, R]]:
        for index, (item, seed) in enumerate(zip(items, seeds, strict=True)):
            yield index, seeded_call(task, shared, item, seed)


@dataclass(frozen=True)
class RayTasks:
    """The Ray executor's fan-out: one Ray task per item (1 CPU, and `gpus` GPUs when asked), `shared` put into the
    object store once. Called from a suite that itself runs as a Ray task, it joins that worker's cluster."""

    address: str | None = None

    def run(self, task: Task[Any, T, R], shared: Any, items: Sequence[T], seeds: Sequence[int],
            gpus: float) -> Iterator[tuple[int, R]]:
        from audit.executors.ray_executor import connect

        ray = connect(self.address)[0]
        if gpus and not _gpu_beyond_callers(ray):
            yield from IN_PROCESS.run(task, shared, items, seeds, gpus)
            return
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(seeded_call)
        shared_ref = ray.put(shared)
        pending = {remote.remote(task, shared_ref, item, seed): index
                   for index, (item, seed) in enumerate(zip(items, seeds, strict=True))}
        while pending:  # hand back each result as soon as it is ready, so the suite can keep it (--resume)
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)


IN_PROCESS = InProcessTasks()


def item_seeds(seed: int, salt: int, count: int) -> list[int]:
    """Item i's seed: derive_seed(seed, salt, i) (a different salt for each independent fan-out of a suite)."""
    from audit.stats import derive_seed

    return [derive_seed(seed, salt, i) for i in range(count)]


def run_in_order(runner: TaskRunner, task: Task[S, T, R], shared: S, items: Sequence[T], seeds: Sequence[int],
                 gpus: float) -> list[R]:
    """Every item's result, in item order whatever order they finished in."""
    results = dict(runner.run(task, shared, items, seeds, gpus))
    return [results[i] for i in range(len(items))]


def run_parts(runner: TaskRunner, parts: PartCheckpoints | None, name: str, task: Task[S, T, R], shared: S,
              items: Sequence[T], seeds: Sequence[int], gpus: float,
              on_done: Callable[[int, int], None] | None = None) -> list[Any]:
    """Like `run_in_order`, with item i kept as the finished part "<name>-<i>": parts already finished are read back,
    the rest run and are saved as each is ready. Every result is in its JSON form, read back or not."""
    results: dict[int, Any] = {}
    for index in range(len(items)):
        found, value = parts.stored(f"{name}-{index}") if parts is not None else (False, None)
        if found:
            results[index] = value
    todo = [i for i in range(len(items)) if i not in results]
    report = on_done or (lambda finished, total: None)
    report(len(results), len(items))
    for position, value in runner.run(task, shared, [items[i] for i in todo], [seeds[i] for i in todo], gpus):
        index = todo[position]
        results[index] = parts.store(f"{name}-{index}", value) if parts is not None else json_form(value)
        report(len(results), len(items))
    return [results[i] for i in range(len(items))]


def _gpu_beyond_callers(ray: Any) -> bool:
    """Whether the cluster has a GPU besides the ones this caller holds. Ray does not lend a blocked task's GPUs to
    the tasks it waits for, so a suite holding the only GPU runs its GPU items itself (on that GPU) rather than
    waiting for ever."""
    return float(ray.cluster_resources().get("GPU", 0)) > len(ray.get_gpu_ids())


__all__ = ["IN_PROCESS", "InProcessTasks", "RayTasks", "Task", "TaskRunner", "item_seeds", "run_in_order", "run_parts",
           "seeded_call"]
