"""The contract between the runner and a suite.

A suite is a class registered in the "audit.suites" entry-point group with:
  name, pillar, requires (capabilities), a frozen `Params` dataclass whose fields declare their allowed
  values (`bounded`), `params_for(preset) -> Params` and `run(ctx, params) -> SuiteOutput`; optionally
  `emits` (measurement-name patterns), `provides` (table ids other suites may read) and `reads`
  (`Output`s of other suites it uses; the registry runs their suites first); `presets` (the presets that run it,
  default both; a preset that leaves it out shows it as skipped, "<name>: full preset only") and `presets_reason`.
Suites measure; they never judge (thresholds live in the policy). Heavy imports go inside `run`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch

from audit.checkpoints import PartCheckpoints
from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.evidence import RowEvidence
from audit.executors.tasks import IN_PROCESS, Task, TaskRunner, item_seeds, run_in_order, run_parts
from audit.models.types import ModelUnderAudit
from audit.stats import derive_seed
from audit.types import Chart, Measurement, SuiteResult, Table, ValidityCheck, to_json_dict

PRESETS = ("full", "quick")
S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


class Progress(Protocol):
    def __call__(self, completed: float, total: float, description: str = "") -> None: ...


def _no_progress(completed: float, total: float, description: str = "") -> None:
    return None


@dataclass(frozen=True)
class Output:
    """Something one suite declares for others to read: a table it `provides`, or measurements it `emits`.

    `name` is a table id ("proxies") or a measurement-name pattern where `*` is the only wildcard
    ("proxy_auroc[*]"). A reader declares `reads = (Output("fairness", "proxies"),)`.
    """

    suite: str
    name: str

    def matches(self, measurement_name: str) -> bool:
        return name_pattern(self.name).fullmatch(measurement_name) is not None


def name_pattern(pattern: str) -> re.Pattern[str]:
    """`dp_difference[*]` -> regex; only `*` is a wildcard (names use literal brackets), as in the policy."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


@dataclass(frozen=True)
class SuiteContext:
    """What a suite may read: the model, the data, the seed, earlier suites' results, a cache."""

    model: ModelUnderAudit
    data: Dataset
    seed: int
    preset: str
    cache_dir: Path
    previous: Mapping[str, SuiteResult] = field(default_factory=dict)
    progress: Progress = _no_progress
    reads: frozenset[Output] | None = None  # the running suite's declared reads (None: not checked)
    checkpoints: PartCheckpoints | None = None  # finished parts kept for --resume (None: nothing is kept)
    tasks: TaskRunner = IN_PROCESS  # where `fan_out` runs: in order here, or as Ray tasks (--executor ray)

    def part(self, name: str, compute: Callable[[], Any]) -> Any:
        """A long suite's finished part (one ε, one shadow model): computed once, kept for `--resume`.
        The value comes back in its JSON form (lists, floats; audit.checkpoints) whether computed or read back."""
        if self.checkpoints is None:
            return json.loads(json.dumps(to_json_dict(compute())))
        return self.checkpoints.part(name, compute)

    def fan_out(self, task: Task[S, T, R], items: Sequence[T], *, salt: int, shared: S = None,
                gpus: float = 0.0) -> list[R]:
        """`task(shared, item, seed)` for every item, independent of each other: in order in this process, or as Ray
        tasks under --executor ray (each asking for `gpus` GPUs when the model is on CUDA). Results in item order.
        Item i's seed is derive_seed(ctx.seed, salt, i) and the global generators are seeded from it, so the figures
        are the same on either executor. `task` must be a module-level function; `shared` and items picklable."""
        return run_in_order(self.tasks, task, shared, items, item_seeds(self.seed, salt, len(items)),
                            self._gpus(gpus))

    def fan_out_parts(self, name: str, task: Task[S, T, R], items: Sequence[T], *, salt: int, shared: S = None,
                      gpus: float = 0.0, on_done: Callable[[int, int], None] | None = None) -> list[Any]:
        """`fan_out` where each item's result is also a finished part "<name>-<i>" (see `part`): a resumed run reads
        back the items a killed run finished and runs only the rest. Results come back in their JSON form, in item
        order; `on_done(finished, total)` is called here as each one is ready."""
        return run_parts(self.tasks, self.checkpoints, name, task, shared, items,
                         item_seeds(self.seed, salt, len(items)), self._gpus(gpus), on_done)

    def _gpus(self, gpus: float) -> float:
        return gpus if self.device.startswith("cuda") else 0.0

    def table(self, output: Output) -> Table | None:
        """The table another suite provided under `output`, or None when that suite did not run or omit it."""
        result = self._result_of(output)
        return next((t for t in result.tables if t.id == output.name), None) if result else None

    def measurements(self, output: Output) -> tuple[Measurement, ...]:
        """Another suite's measurements whose names match `output` (none when it did not run)."""
        result = self._result_of(output)
        return tuple(m for m in result.measurements if output.matches(m.name)) if result else ()

    def _result_of(self, output: Output) -> SuiteResult | None:
        if self.reads is not None and output not in self.reads:
            raise RuntimeError(f"{output} is read but not declared in the suite's `reads`, so nothing orders "
                               f"{output.suite!r} before it")
        return self.previous.get(output.suite)

    @property
    def device(self) -> str:
        return self.model.device

    def rng(self, salt: int = 0) -> np.random.Generator:
        """A numpy generator derived from the run seed (salt separates independent streams)."""
        return np.random.default_rng([self.seed, salt])

    def torch_generator(self, salt: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, salt))


@dataclass(frozen=True)
class SuiteOutput:
    measurements: tuple[Measurement, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    validity: tuple[ValidityCheck, ...] = ()
    notes: tuple[str, ...] = ()
    evidence: RowEvidence | None = None  # per-row evidence for paired comparisons (audit.evidence)


def merge_outputs(parts: Iterable[SuiteOutput]) -> SuiteOutput:
    """One output from a suite's sections, in order; per-row evidence is set by the suite on the result."""
    parts = list(parts)
    return SuiteOutput(
        measurements=tuple(m for p in parts for m in p.measurements),
        tables=tuple(t for p in parts for t in p.tables),
        charts=tuple(c for p in parts for c in p.charts),
        validity=tuple(v for p in parts for v in p.validity),
        notes=tuple(n for p in parts for n in p.notes),
    )


class Suite(Protocol):
    name: ClassVar[str]
    pillar: ClassVar[str]
    requires: ClassVar[frozenset[str]]
    description: ClassVar[str]
    Params: ClassVar[type]
    # Optional (read with getattr): emits: tuple[str, ...]; provides: tuple[str, ...]; reads: tuple[Output, ...];
    # runs_alone: bool (a suite that times things runs when no other suite is running); reads_at_end: bool (it
    # reads others' outputs only after its own work, so it may start before they finish); relative_cost: float, or
    # a mapping from input kind to float with "*" for the rest (a rough share of a run: the longest suites start
    # first) -- all three for suites side by side (--jobs)

    def params_for(self, preset: str) -> Any: ...

    def run(self, ctx: SuiteContext, params: Any) -> SuiteOutput: ...


def context_capabilities(ctx_model: ModelUnderAudit, data: Dataset) -> frozenset[str]:
    """Capabilities a suite may require: the model's plus what the data provides."""
    caps = set(ctx_model.capabilities)
    if data.train is not None and len(data.train) > 0:
        caps.add("training-data")
    if data.sensitive_attributes:
        caps.add("sensitive-attributes")
    caps.add(f"input:{data.input_kind}")
    caps.add(f"task:{data.task}")
    return frozenset(caps)


# --- Parameter bounds: declared beside each Params field, checked in one place after the user's overrides.

_BOUNDS = "audit.bounds"


@dataclass(frozen=True)
class Bounds:
    """The values one Params field allows; for a tuple field, what each element allows. None is never checked
    (it means "unset": an optional field's default)."""

    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    min_items: int = 0  # tuple fields: at least this many elements

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            return f"between {self.min:g} and {self.max:g}"
        if self.min is not None:
            return f"at least {self.min:g}"
        return f"at most {self.max:g}" if self.max is not None else "any value"

    def allows(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True  # types are checked by registry.apply_overrides; bounds apply to numbers
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


def bounded(default: Any, *, min: float | None = None, max: float | None = None,
            choices: Iterable[Any] = (), min_items: int = 0) -> Any:
    """A Params field with its allowed values: `resamples: int = bounded(1000, min=1)`."""
    return field(default=default, metadata={_BOUNDS: Bounds(min, max, tuple(choices), min_items)})


def field_bounds(params_type: type) -> dict[str, Bounds]:
    """Declared bounds per field name (fields without any are left out)."""
    return {f.name: f.metadata[_BOUNDS] for f in dataclasses.fields(params_type) if _BOUNDS in f.metadata}


def validate_params(suite: str, params: Any) -> Any:
    """Every declared bound of `params`, then its `conflicts()` (rules between fields); AuditInputError on the first
    violation, naming the suite, the setting and what it allows. Returns `params` unchanged."""
    if not dataclasses.is_dataclass(params):
        return params
    for name, bounds in field_bounds(type(params)).items():
        problem = _field_problem(getattr(params, name), bounds)
        if problem:
            raise AuditInputError(f"{suite}.{name} = {getattr(params, name)!r} is not allowed: {problem}; "
                                  f"{_where(suite)}.")
    conflicts = getattr(params, "conflicts", None)
    for problem in conflicts() if conflicts else ():
        raise AuditInputError(f"{suite}: {problem}; {_where(suite)}.")
    return params


def _where(suite: str) -> str:
    return f"fix it under [suites.{suite}] in --config or [tool.audit.suites.{suite}] in pyproject.toml"


def _field_problem(value: Any, bounds: Bounds) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) < bounds.min_items:
            return f"it needs at least {bounds.min_items} value(s)"
        bad = [v for v in value if not bounds.allows(v)]
        return f"each value must be {bounds.describe()}; {bad[0]!r} is not" if bad else None
    return None if bounds.allows(value) else f"it must be {bounds.describe()}"
