"""Suites side by side in forked worker processes on this machine (`--jobs N`, the local executor's default).

Why processes and not threads: most suites are many small torch products that one thread runs best, and Python
code between them holds the GIL; two processes on two cores nearly halve a run. Why fork: a forked worker starts
with the model, data and imports the parent already has (nothing is pickled but each suite's result), so it costs
milliseconds, not the seconds of importing torch afresh.

Rules that keep figures and the machine sound:
- a worker's native pools (torch's OpenMP, BLAS) run on one thread, set before any work: an OpenMP pool the
  parent used does not survive fork (a forked child that asks it for two threads hangs), and one job runs each
  suite on one thread too, so the floats are the same;
- a suite that measures time (`runs_alone`) runs in this process when no worker is busy, so its timing figures
  are taken on a quiet machine, as with one job;
- a suite starts once every suite it reads has finished, and gets those results (only those) as `previous`;
  a suite that reads them only at its end (`reads_at_end`) may start before, and waits for them when it reads
  (audit.executors.forked.AwaitedResults); so that waiting can never hold every worker, at most jobs − 1 such
  suites wait at once, and never on a suite that runs alone;
- longer suites (`relative_cost`, plus the suites that read them) start first, so a short one does not delay a
  long one to the end;
- results come back as they finish; the runner orders the scorecard by plan, so the order never shows;
- workers ignore Ctrl-C (the parent handles it) and die with the parent (Linux's parent-death signal), so a
  killed run leaves no suite running; a worker that dies (out of memory, a crash in native code) turns the suites
  it ran into errors that say so, and the remaining suites run in fresh workers.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_POLL_S = 0.1  # how often progress messages from the workers are drawn while suites run
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SuiteWork(Generic[T, R]):
    """What an executor needs to run the planned suites: `fn(shared, previous, item, progress) -> result`."""

    fn: Callable[[Any, Mapping[str, Any], T, Any], R]
    shared: Any
    finished: Callable[[], Mapping[str, Any]]  # results so far (the runner adds each one an executor yields)
    reads: Mapping[str, frozenset[str]]  # suite -> planned suites it reads (they must finish first)
    progress: Any  # runner.ProgressSink
    started: Callable[[T], None]
    runs_alone: Callable[[T], bool] = lambda item: False
    crashed: Callable[[T, str], R] | None = None  # the result of a suite whose worker died
    reads_at_end: Callable[[T], bool] = lambda item: False  # may start before the suites it reads finish
    relative_cost: Callable[[T], float] = lambda item: 1.0  # a rough estimate: the costliest start first


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fork_available() -> bool:
    """Fork is safe on Linux; macOS' system libraries are not fork-safe, and Windows has no fork."""
    return sys.platform.startswith("linux")


_STATE: dict[str, Any] = {}  # set before the workers fork, so they inherit it instead of unpickling it


def run_forked(work: SuiteWork[T, R], items: Sequence[T], jobs: int) -> Iterator[tuple[T, R]]:
    """Every item's result, as each finishes, running up to `jobs` items at a time in forked workers."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    inboxes = {_name(i): context.Queue() for i in items if work.reads_at_end(i) and work.reads.get(_name(i))}
    scheduler = _Scheduler(work, list(items), jobs, inboxes)
    _STATE.update(work=work, items=list(items), messages=messages, inboxes=inboxes)
    pool = _pool(context, jobs)
    try:
        while scheduler.waiting or scheduler.running:
            pool = yield from scheduler.step(pool, lambda: _pool(context, jobs))
            _drain(messages, work.progress)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _drain(messages, work.progress)
        for channel in (messages, *inboxes.values()):  # a result no reader took must not hold up the exit
            channel.cancel_join_thread()
            channel.close()
        _STATE.clear()


def _name(item: Any) -> str:
    return str(getattr(item, "name", ""))


def _priorities(work: SuiteWork[T, R], items: Sequence[T]) -> dict[str, float]:
    """Each suite's cost plus the costliest chain of suites that read it (list scheduling by "bottom level"): a
    cheap suite that a long one reads starts early, so the long one is not left to the end."""
    names = [_name(i) for i in items]
    cost = {_name(i): work.relative_cost(i) for i in items}
    readers = {n: [r for r in names if n in work.reads.get(r, frozenset())] for n in names}
    priority: dict[str, float] = {}

    def of(name: str) -> float:
        if name not in priority:
            priority[name] = cost[name] + max((of(r) for r in readers[name]), default=0.0)
        return priority[name]

    for name in names:
        of(name)
    return priority


class _Scheduler(Generic[T, R]):
    def __init__(self, work: SuiteWork[T, R], items: list[T], jobs: int, inboxes: Mapping[str, Any]) -> None:
        self.work, self.jobs, self.inboxes = work, jobs, inboxes
        self.position = {id(item): index for index, item in enumerate(items)}
        priority = _priorities(work, items)
        self.waiting = sorted(items, key=lambda i: (-priority[_name(i)], self.position[id(i)]))
        self.running: dict[Future[R], T] = {}

    def _unfinished_reads(self, item: T) -> frozenset[str]:
        unfinished = {_name(i) for i in (*self.waiting, *self.running.values())}
        return self.work.reads.get(_name(item), frozenset()) & unfinished

    def _may_start(self, item: T) -> bool:
        unfinished = self._unfinished_reads(item)
        if not unfinished:
            return True
        if _name(item) not in self.inboxes or any(self.work.runs_alone(i) for i in self.waiting
                                                   if _name(i) in unfinished):
            return False
        waiting_readers = sum(bool(self._unfinished_reads(i)) for i in self.running.values())
        return waiting_readers + 1 < self.jobs  # one worker always stays free for the suites they wait for

    def step(self, pool: ProcessPoolExecutor, new_pool: Callable[[], ProcessPoolExecutor]
             ) -> Iterator[tuple[T, R]]:
        """Submit what can start; run a timing suite here when the workers are idle; hand back what finished.
        Returns the pool to use next (a fresh one when a worker died)."""
        self._submit(pool)
        if not self.running:
            item = next(i for i in self.waiting if not self._unfinished_reads(i))  # the registry refuses cycles
            self.waiting.remove(item)
            self.work.started(item)
            yield item, self.work.fn(self.work.shared, self._previous(item), item, self.work.progress)
            self._deliver(item)
            return pool
        done, _ = wait(list(self.running), timeout=_POLL_S, return_when=FIRST_COMPLETED)
        broken = False
        for future in sorted(done, key=lambda f: self.position[id(self.running[f])]):
            item = self.running.pop(future)
            try:
                yield item, future.result()
            except BrokenProcessPool as exc:
                broken = True
                if self.work.crashed is None:
                    raise
                yield item, self.work.crashed(item, f"the worker process running it died ({exc})")
            self._deliver(item)
        if broken:
            pool.shutdown(wait=True, cancel_futures=True)
            return new_pool()
        return pool

    def _submit(self, pool: ProcessPoolExecutor) -> None:
        for item in list(self.waiting):
            if len(self.running) >= self.jobs:
                return
            if self.work.runs_alone(item) or not self._may_start(item):
                continue
            self.waiting.remove(item)
            self.work.started(item)
            self.running[pool.submit(_run_item, self.position[id(item)], self._previous(item))] = item

    def _previous(self, item: T) -> dict[str, Any]:
        reads = self.work.reads.get(_name(item), frozenset())
        return {name: result for name, result in self.work.finished().items() if name in reads}

    def _deliver(self, item: T) -> None:
        """A finished suite's result (as the runner recorded it) to each running suite that reads it at its end
        (one that starts later gets it with the results finished before it)."""
        running = {_name(i) for i in self.running.values()}
        for reader, inbox in self.inboxes.items():
            if reader in running and _name(item) in self.work.reads.get(reader, frozenset()):
                inbox.put((_name(item), self.work.finished()[_name(item)]))


def _pool(context: Any, jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_setup)


def _worker_setup() -> None:
    """In a fresh worker: native pools on one thread, Ctrl-C left to the parent, die with the parent, and
    plain standard streams (the parent's may be a live progress display whose lock another thread held at fork)."""
    from audit.threads import one_thread

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    sys.stdout = open(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    sys.stderr = open(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    _STATE["one_thread"] = one_thread()  # entered for good: the worker has nothing to restore
    _STATE["one_thread"].__enter__()


def _run_item(index: int, previous: Mapping[str, Any]) -> Any:
    work: SuiteWork[Any, Any] = _STATE["work"]
    item = _STATE["items"][index]
    name = _name(item)
    if name in _STATE["inboxes"]:
        previous = AwaitedResults(dict(previous), work.reads[name] - set(previous), _STATE["inboxes"][name])
    return work.fn(work.shared, previous, item, _QueuedProgress(_STATE["messages"], name))


class AwaitedResults(Mapping[str, Any]):
    """The results a suite reads at its end: those finished when it started, and each other one once its suite
    finishes (reading it waits until then; the parent sends it)."""

    def __init__(self, known: dict[str, Any], awaited: frozenset[str], inbox: Any) -> None:
        self.known, self.awaited, self.inbox = known, awaited, inbox

    def _wait_for(self, names: frozenset[str]) -> None:
        while not names <= self.known.keys():
            name, result = self.inbox.get()
            self.known[name] = result

    def __getitem__(self, name: str) -> Any:
        self._wait_for(self.awaited & {name})
        return self.known[name]

    def __iter__(self) -> Iterator[str]:
        self._wait_for(self.awaited)
        return iter(self.known)

    def __len__(self) -> int:
        self._wait_for(self.awaited)
        return len(self.known)


@dataclass(frozen=True)
class _QueuedProgress:
    """A worker's progress sink: each step goes to the parent, which shows it on that suite's bar."""

    messages: Any
    suite: str

    def suite_progress(self, completed: float, total: float, description: str = "") -> None:
        self.messages.put((self.suite, completed, total, description))


def _drain(messages: Any, progress: Any) -> None:
    show = getattr(progress, "suite_progress_of", None)
    while True:
        try:
            suite, completed, total, description = messages.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return
        if show is not None:
            show(suite, completed, total, description)


__all__ = ["AwaitedResults", "SuiteWork", "fork_available", "run_forked", "usable_cores"]
