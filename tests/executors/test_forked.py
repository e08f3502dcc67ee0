"""--jobs N: suites side by side in forked workers give the scorecard one job gives, in any finishing order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.config import AuditConfig
from audit.errors import AuditInputError
from audit.executors import LocalExecutor, make_executor
from audit.executors.forked import SuiteWork, run_forked
from audit.session import execute

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers run on Linux only")


@dataclass(frozen=True)
class Item:
    name: str


def _work(fn, reads=None, alone=(), crashed=None, log=None):  # type: ignore[no-untyped-def]
    finished: dict[str, object] = {}
    started = log if log is not None else []
    work = SuiteWork(fn, "shared", lambda: finished, reads or {}, None, started=lambda i: started.append(i.name),
                     runs_alone=lambda i: i.name in alone, crashed=crashed)
    return work, finished


def _collect(work, finished, items, jobs):  # type: ignore[no-untyped-def]
    for item, result in run_forked(work, items, jobs):
        finished[item.name] = result  # as the runner does before the scheduler goes on
    return finished


def _where(shared, previous, item, progress):  # type: ignore[no-untyped-def]
    return {"pid": os.getpid(), "previous": sorted(previous), "shared": shared}


def test_reads_wait_and_timing_suites_run_alone_in_this_process() -> None:
    items = [Item("a"), Item("b"), Item("timed"), Item("reader")]
    work, finished = _work(_where, reads={"reader": frozenset({"a", "b"})}, alone={"timed"})
    results = _collect(work, finished, items, 2)
    assert set(results) == {"a", "b", "timed", "reader"}
    assert results["timed"]["pid"] == os.getpid()  # timed with no worker busy
    assert {results[n]["pid"] for n in ("a", "b", "reader")}.isdisjoint({os.getpid()})
    assert results["reader"]["previous"] == ["a", "b"]  # what it reads, and only that
    assert results["a"]["previous"] == [] and results["a"]["shared"] == "shared"


def _slow_a(shared, previous, item, progress):  # type: ignore[no-untyped-def]
    import time

    started = time.monotonic()
    if item.name == "a":
        time.sleep(1.5)
    got = {name: previous.get(name) for name in ("a", "b")} if item.name.startswith("late") else {}
    return {"started": started, "ended": time.monotonic(), "read": got}


def test_a_suite_that_reads_at_its_end_starts_early_and_waits_there_for_what_it_reads() -> None:
    items = [Item("a"), Item("b"), Item("late")]
    finished: dict[str, object] = {}
    work = SuiteWork(_slow_a, None, lambda: finished, {"late": frozenset({"a", "b"})}, None, started=lambda i: None,
                     reads_at_end=lambda i: i.name == "late", relative_cost=lambda i: 5.0 if i.name == "late" else 1.0)
    results = _collect(work, finished, items, 2)
    assert results["late"]["started"] < results["a"]["ended"]  # began while "a" still ran (one clock for all)
    assert results["late"]["read"]["a"] == results["a"] and results["late"]["read"]["b"] == results["b"]


def test_readers_waiting_at_their_end_never_hold_every_worker() -> None:
    items = [Item("late1"), Item("late2"), Item("a"), Item("b")]
    reads = {"late1": frozenset({"a"}), "late2": frozenset({"b"})}
    finished: dict[str, object] = {}
    work = SuiteWork(_slow_a, None, lambda: finished, reads, None, started=lambda i: None,
                     reads_at_end=lambda i: i.name.startswith("late"), relative_cost=lambda i: 9.0)
    results = _collect(work, finished, items, 2)  # with both late readers on the two workers this would hang
    assert results["late1"]["read"]["a"] == results["a"] and results["late2"]["read"]["b"] == results["b"]


def test_a_cheap_suite_that_a_long_one_reads_starts_first() -> None:
    from audit.executors.forked import _priorities

    items = [Item("long"), Item("cheap-read"), Item("other")]
    work, _ = _work(_where, reads={"long": frozenset({"cheap-read"})})
    costs = {"long": 4.0, "cheap-read": 0.5, "other": 2.0}
    work = SuiteWork(work.fn, None, work.finished, work.reads, None, started=lambda i: None,
                     relative_cost=lambda i: costs[i.name])
    priority = _priorities(work, items)
    assert priority == {"long": 4.0, "cheap-read": 4.5, "other": 2.0}


def _dies_on_b(shared, previous, item, progress):  # type: ignore[no-untyped-def]
    if item.name == "b":
        os._exit(3)
    return item.name


def test_a_dead_worker_becomes_that_suites_error_and_the_rest_still_run() -> None:
    items = [Item("a"), Item("b"), Item("c"), Item("d")]
    work, finished = _work(_dies_on_b, crashed=lambda item, why: f"crashed: {why}")
    results = _collect(work, finished, items, 2)
    assert results["b"].startswith("crashed: the worker process running it died")
    assert results["d"] == "d"  # submitted after the crash, to fresh workers


def _reports(shared, previous, item, progress):  # type: ignore[no-untyped-def]
    progress.suite_progress(1, 2, f"{item.name}: half")
    return item.name


class _Bars:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float, float, str]] = []

    def suite_progress_of(self, suite: str, completed: float, total: float, description: str = "") -> None:
        self.steps.append((suite, completed, total, description))


def test_worker_progress_reaches_that_suites_bar() -> None:
    bars = _Bars()
    finished: dict[str, object] = {}
    work = SuiteWork(_reports, None, lambda: finished, {}, bars, started=lambda i: None)
    _collect(work, finished, [Item("x"), Item("y")], 2)
    assert sorted(bars.steps) == [("x", 1, 2, "x: half"), ("y", 1, 2, "y: half")]


def test_one_job_runs_in_order_in_this_process() -> None:
    log: list[str] = []
    work, finished = _work(_where, log=log)
    results = dict(LocalExecutor(1).run_suites(work, [Item("b"), Item("a")], True))
    assert log == ["b", "a"] and {r["pid"] for r in results.values()} == {os.getpid()}


def test_workers_do_not_hang_after_this_process_used_two_openmp_threads() -> None:
    """A forked child that asks an OpenMP pool the parent used for two threads hangs; workers must not."""
    script = textwrap.dedent("""
        import torch
        from audit.executors.forked import SuiteWork, run_forked
        torch.set_num_threads(2)
        a = torch.randn(600, 600)
        for _ in range(3):
            a @ a
        def product(shared, previous, item, progress):
            b = torch.randn(600, 600)
            return float((b @ b).sum()) * 0 + torch.get_num_threads()
        finished = {}
        work = SuiteWork(product, None, lambda: finished, {}, None, started=lambda i: None)
        print(sorted(r for _, r in run_forked(work, ["x", "y"], 2)))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.0, 1.0]"


def test_a_result_that_no_reader_takes_does_not_hold_up_the_exit() -> None:
    """A suite that reads at its end but finishes without reading (e.g. skipped) leaves a delivered result unread;
    a pipe holds 64 KiB, and a queue's writer thread waits for its reader at exit unless told not to."""
    script = textwrap.dedent("""
        import time
        from dataclasses import dataclass
        from audit.executors.forked import SuiteWork, run_forked

        @dataclass(frozen=True)
        class Item:
            name: str

        def fn(shared, previous, item, progress):
            if item.name == "reader":
                time.sleep(1.0)  # running when "big" finishes, so its result is sent here
                return "never read"
            time.sleep(0.3)
            return "x" * 4_000_000
        finished = {}
        work = SuiteWork(fn, None, lambda: finished, {"reader": frozenset({"big"})}, None, started=lambda i: None,
                         reads_at_end=lambda i: i.name == "reader", relative_cost=lambda i: 1.0)
        for item, result in run_forked(work, [Item("big"), Item("reader")], 2):
            finished[item.name] = result
        print(sorted(finished))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['big', 'reader']"


def _comparable(path: Path) -> dict:
    card = json.loads(path.read_text())
    for key in ("started_at", "finished_at", "energy", "placement"):  # times, and how the run was placed
        card["run"].pop(key)
    card["provenance"].pop("git_commit")  # the working folder's commit: others commit while the test runs
    card["config"].pop("out"), card["config"].pop("jobs")
    for result in card["results"]:
        result.pop("duration_s")
    return card


SMALL_PRIVACY = {"shadow_models": 8, "shadows_per_task": 4, "max_per_side": 300, "bootstrap_resamples": 100,
                 "attribute_rows": 200, "shift_rows": 300, "label_only_queries": 4}


def test_two_jobs_give_the_scorecard_of_one(tmp_path: Path) -> None:
    settings = dict(model="german-mlp", suite="accuracy,fairness,privacy,explainability",
                    suites={"privacy": SMALL_PRIVACY})
    one = execute(AuditConfig(**settings, out=str(tmp_path / "one"), jobs=1))  # type: ignore[arg-type]
    two = execute(AuditConfig(**settings, out=str(tmp_path / "two"), jobs=2))  # type: ignore[arg-type]
    assert [r.status.value for r in two.scorecard.results] == ["ok"] * 4
    assert two.scorecard.run.placement.startswith("up to 2 at once in forked workers")  # durations overlap: said so
    assert one.scorecard.run.placement.startswith("one at a time on this machine")
    assert [r.suite for r in two.scorecard.results] == [r.suite for r in one.scorecard.results]  # plan order
    assert _comparable(tmp_path / "two" / "scorecard.json") == _comparable(tmp_path / "one" / "scorecard.json")
    assert sorted(p.name for p in (tmp_path / "two" / "evidence").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "evidence").iterdir())


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_bad_jobs_is_exit_2(value: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--suite", "accuracy", "--jobs", value, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "jobs" in result.output and "Traceback" not in result.output


def test_jobs_with_ray_is_refused() -> None:
    with pytest.raises(AuditInputError, match="--jobs is for the local executor"):
        make_executor("ray", None, 2)
