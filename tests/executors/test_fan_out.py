"""Fan-out inside a suite (SuiteContext.fan_out): item order, per-item seeds, isolated random state, kept parts."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audit.checkpoints import PartCheckpoints
from audit.executors import LocalExecutor
from audit.executors.tasks import IN_PROCESS, Task
from audit.stats import derive_seed
from audit.suite import SuiteContext
from audit.testing import synthetic_tabular, tabular_model
from audit.types import Provenance


def draw(shared: float, item: int, seed: int) -> dict[str, Any]:
    """Uses all three global generators, so any leak of random state between items shows."""
    return {"item": item, "seed": seed, "numpy": float(np.random.rand()) * shared, "torch": float(torch.rand(1)),
            "python": random.random(), "array": np.arange(item, dtype=np.float64) / 3}


@dataclass
class Recording:
    """Runs in process, in reverse order, and remembers which items it was asked to run."""

    asked: list[list[int]] = field(default_factory=list)

    def run(self, task: Task[Any, Any, Any], shared: Any, items: Sequence[Any], seeds: Sequence[int],
            gpus: float) -> Iterator[tuple[int, Any]]:
        self.asked.append(list(items))
        finished = list(IN_PROCESS.run(task, shared, items, seeds, gpus))
        yield from reversed(finished)


@pytest.fixture(scope="module")
def ctx() -> SuiteContext:
    data = synthetic_tabular(40, seed=1)
    return SuiteContext(model=tabular_model(data, epochs=1), data=data, seed=11, preset="quick", cache_dir=Path("."))


def test_items_come_back_in_order_each_with_its_derived_seed(ctx: SuiteContext) -> None:
    results = ctx.fan_out(draw, [3, 1, 2], salt=5, shared=2.0)
    assert [r["item"] for r in results] == [3, 1, 2]
    assert [r["seed"] for r in results] == [derive_seed(11, 5, i) for i in range(3)]
    np.testing.assert_array_equal(results[0]["array"], np.arange(3) / 3)  # fan_out returns results as they are


def test_an_item_depends_only_on_its_seed_not_on_order_or_neighbours(ctx: SuiteContext) -> None:
    first = [_plain(r) for r in ctx.fan_out(draw, [7, 8, 9], salt=1, shared=1.0)]
    finishing_backwards = dataclasses.replace(ctx, tasks=Recording())
    assert [_plain(r) for r in finishing_backwards.fan_out(draw, [7, 8, 9], salt=1, shared=1.0)] == first
    assert _plain(ctx.fan_out(draw, [7], salt=1, shared=1.0)[0]) == first[0]
    assert first[0]["numpy"] != first[1]["numpy"]  # different seeds, different draws


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "array"}


def test_global_random_state_is_left_as_it_was(ctx: SuiteContext) -> None:
    np.random.seed(3), torch.manual_seed(3), random.seed(3)
    expected = (np.random.rand(), float(torch.rand(1)), random.random())
    np.random.seed(3), torch.manual_seed(3), random.seed(3)
    ctx.fan_out(draw, [1, 2], salt=0, shared=1.0)
    assert (np.random.rand(), float(torch.rand(1)), random.random()) == expected


def test_gpus_are_asked_for_only_when_the_model_is_on_cuda(ctx: SuiteContext) -> None:
    asked: list[float] = []

    class Spy:
        def run(self, task, shared, items, seeds, gpus):  # type: ignore[no-untyped-def]
            asked.append(gpus)
            return IN_PROCESS.run(task, shared, items, seeds, gpus)

    dataclasses.replace(ctx, tasks=Spy()).fan_out(draw, [1], salt=0, shared=1.0, gpus=0.5)
    assert asked == [0.0] and ctx.device == "cpu"


def _provenance() -> Provenance:
    return Provenance("1", "3.11", "linux", {}, "2", None, "cpu", "m", "zoo:x", "d", "x", "c", None)


def test_finished_parts_are_read_back_and_only_the_rest_run(ctx: SuiteContext, tmp_path: Path) -> None:
    parts = PartCheckpoints.for_suite(tmp_path, "privacy", {"shadow_models": 8}, _provenance(), 11)
    first_runner, progress = Recording(), []
    first = dataclasses.replace(ctx, checkpoints=parts, tasks=first_runner)
    results = first.fan_out_parts("shadows", draw, [4, 5, 6], salt=2, shared=1.0,
                                  on_done=lambda done, total: progress.append((done, total)))
    assert results[1]["array"] == [0.0, 1 / 3, 2 / 3, 1.0, 4 / 3]  # the JSON form, as a read-back part
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]
    (parts.folder / "shadows-1.json").unlink()  # as if the run was killed before the second item finished
    second_runner = Recording()
    resumed = dataclasses.replace(ctx, checkpoints=parts, tasks=second_runner)
    assert resumed.fan_out_parts("shadows", draw, [4, 5, 6], salt=2, shared=1.0) == results
    assert second_runner.asked == [[5]]  # only the missing item ran, with its own seed
    bare = ctx
    assert bare.fan_out_parts("shadows", draw, [4, 5, 6], salt=2, shared=1.0) == results


def test_the_local_executor_fans_out_in_process() -> None:
    assert LocalExecutor().tasks is IN_PROCESS
