"""--resume: a killed run continues without recomputing its finished suites, and ends equal to an uninterrupted run."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit import runner
from audit.checkpoints import PartCheckpoints
from audit.cli import app
from audit.config import AuditConfig
from audit.evidence import load_run_evidence
from audit.session import execute
from audit.types import Provenance

MODEL = "german-mlp"


def _cfg(out: Path, **extra: object) -> AuditConfig:
    """One job: the kill below is simulated in this process, where it can count what each run computes."""
    return AuditConfig(**{"model": MODEL, "suite": "quick", "out": str(out), "jobs": 1, **extra})  # type: ignore[arg-type]


# Timing figures (and the tables, charts and checks built on them) differ from run to run by nature.
TIMING = re.compile(r"latency|throughput|peak_memory|training_seconds|speedup|rows/s|energy")


def comparable(path: Path) -> dict:
    """scorecard.json without what legitimately differs between two runs: times, timing figures, output folders."""
    card = json.loads(path.read_text())
    for key in ("started_at", "finished_at", "energy", "placement"):  # times, and how the run was placed
        card["run"].pop(key)
    card["provenance"].pop("git_commit")  # the working folder's commit: others commit while the test runs
    for key in ("out", "resume", "executor", "ray_address", "jobs"):
        card["config"].pop(key)
    for result in card["results"]:
        result.pop("duration_s")
        result["measurements"] = [m for m in result["measurements"] if not TIMING.search(m["name"])]
        for kind in ("tables", "charts", "notes"):
            result[kind] = [t for t in result[kind] if not TIMING.search(json.dumps(t))]
    timed_pillars = {c["key"].split(".")[0] for c in card["checks"] if TIMING.search(c["key"])}
    card["checks"] = [c for c in card["checks"] if not TIMING.search(c["key"])]
    card["pillars"] = [p for p in card["pillars"] if p["pillar"] not in timed_pillars]
    card.pop("verdict"), card.pop("exit_code")  # judged from all checks, timing ones included
    return card


class Interrupted(BaseException):
    """Stands in for a kill: not an Exception, so no suite isolation catches it."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted run; a run killed after three suites; its resumption (counting what each computes)."""
    base = tmp_path_factory.mktemp("resume")
    full = execute(_cfg(base / "full"))
    computed: list[str] = []
    real = runner.compute_suite

    def counting(audit, previous, planned, progress=None):  # type: ignore[no-untyped-def]
        if len(computed) == 3 and stop["on"]:
            raise Interrupted
        computed.append(planned.name)
        return real(audit, previous, planned, progress)

    stop = {"on": True}
    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "compute_suite", counting)
    try:
        with pytest.raises(Interrupted):
            execute(_cfg(base / "killed"))
        killed = json.loads((base / "killed" / "scorecard.json").read_text())
        first_three = list(computed)
        computed.clear()
        stop["on"] = False
        resumed = execute(_cfg(base / "killed", resume=str(base / "killed")))
    finally:
        mp.undo()
    return {"base": base, "full": full, "killed": killed, "first_three": first_three, "after": list(computed),
            "resumed": resumed}


def test_killed_run_left_three_finished_suites(runs: dict) -> None:
    assert runs["killed"]["complete"] is False
    assert [r["suite"] for r in runs["killed"]["results"]] == runs["first_three"]


def test_resume_does_not_recompute_finished_suites(runs: dict) -> None:
    assert not set(runs["first_three"]) & set(runs["after"])
    planned = [r.suite for r in runs["full"].scorecard.results]
    assert runs["after"] == planned[3:]


def test_resumed_scorecard_equals_uninterrupted(runs: dict) -> None:
    base = runs["base"]
    assert comparable(base / "killed" / "scorecard.json") == comparable(base / "full" / "scorecard.json")
    assert runs["resumed"].scorecard.complete


def test_resumed_run_keeps_the_evidence_of_kept_suites(runs: dict) -> None:
    full, resumed = load_run_evidence(runs["base"] / "full"), load_run_evidence(runs["base"] / "killed")
    assert sorted(full) == sorted(resumed)
    for suite, evidence in full.items():
        assert evidence.rows_sha256 == resumed[suite].rows_sha256
        assert evidence.frame.equals(resumed[suite].frame), suite


def _run_folder_processes(out: Path) -> list[int]:
    """Processes whose command line names the run folder: the run and its forked workers."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(out).encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # gone while listed
            continue
    return found


def _finished_suites(out: Path) -> int:
    try:
        return len(json.loads((out / "scorecard.json").read_text())["results"])
    except (OSError, ValueError, KeyError):  # not written yet, or caught between write and rename
        return 0


def test_sigkill_with_two_jobs_then_resume_equals_uninterrupted(runs: dict, tmp_path: Path) -> None:
    """A real kill (SIGKILL of `audit run --jobs 2` once three suites finished): its workers die with it, and
    --resume keeps the finished suites as they were and ends with the uninterrupted run's scorecard."""
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "audit", "run", "--model", MODEL, "--suite", "quick", "--jobs", "2",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _finished_suites(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    killed = json.loads((out / "scorecard.json").read_text())
    assert killed["complete"] is False and len(killed["results"]) >= 3
    time.sleep(1.0)  # the parent-death signal reaches the workers at once; give the kernel a moment
    assert _run_folder_processes(out) == []
    resumed = execute(_cfg(out, resume=str(out), jobs=2))
    kept = {r["suite"]: r["duration_s"] for r in killed["results"]}
    assert {r.suite: r.duration_s for r in resumed.scorecard.results if r.suite in kept} == kept  # not recomputed
    assert comparable(out / "scorecard.json") == comparable(runs["base"] / "full" / "scorecard.json")


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "--model", MODEL, "--suite", "quick", *args])
    return result.exit_code, " ".join(result.output.split())  # the console wraps long messages


def test_resume_with_another_seed_is_refused_naming_it(runs: dict, tmp_path: Path) -> None:
    code, output = _cli("--seed", "7", "--resume", str(runs["base"] / "full"), "--out", str(tmp_path / "o"))
    assert code == 2 and "seed 0 then, 7 now" in output and "Traceback" not in output


def test_resume_with_other_suite_settings_is_refused_naming_them(runs: dict, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[suites.accuracy]\nbootstrap_resamples = 50\n")
    code, output = _cli("--config", str(config), "--resume", str(runs["base"] / "full"), "--out", str(tmp_path / "o"))
    assert code == 2 and "accuracy.bootstrap_resamples = 200 then, 50 now" in output


def test_resume_of_a_folder_whose_checkpoints_is_a_file_is_refused_naming_it(runs: dict, tmp_path: Path) -> None:
    (tmp_path / "scorecard.json").write_bytes((runs["base"] / "full" / "scorecard.json").read_bytes())
    (tmp_path / "checkpoints").write_text("not a folder")
    code, output = _cli("--resume", str(tmp_path))
    assert code == 2 and "'checkpoints' is not a folder" in output and "Traceback" not in output


def test_resume_of_a_folder_without_scorecard_is_refused(tmp_path: Path) -> None:
    code, output = _cli("--resume", str(tmp_path))
    assert code == 2 and "holds no scorecard.json" in output


def test_a_run_without_resume_reuses_no_part_an_earlier_run_left(tmp_path: Path) -> None:
    """Parts are keyed by everything that sets a figure, but a plain run into an old folder must not say it
    computed what it read back: it starts without them."""
    out = tmp_path / "again"
    planted = out / "checkpoints" / "robustness" / "planted.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("{}")
    code, _ = _cli("--suite", "accuracy", "--out", str(out))
    assert code in (0, 1) and not (out / "checkpoints" / "robustness").exists()
    elsewhere = tmp_path / "elsewhere"  # a link in their place: removed, and what it points to is left alone
    planted = elsewhere / "robustness" / "planted.json"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text("{}")
    (out / "checkpoints").symlink_to(elsewhere)
    code, _ = _cli("--suite", "accuracy", "--out", str(out))
    assert code in (0, 1) and planted.exists() and not (out / "checkpoints").is_symlink()
    (out / "checkpoints").write_text("a file where the parts go")  # once made every suite with parts fail
    code, output = _cli("--suite", "robustness", "--out", str(out))
    assert code in (0, 1) and "NotADirectoryError" not in output and (out / "checkpoints" / "robustness").is_dir()


def _provenance(model_sha: str = "m") -> Provenance:
    return Provenance("1", "3.11", "linux", {}, "2", None, "cpu", model_sha, "zoo:x", "d", "x", "c", None)


def test_finished_parts_are_read_back_and_never_reused_for_other_inputs(tmp_path: Path) -> None:
    calls: list[str] = []

    def compute(name: str) -> dict:
        calls.append(name)
        return {"eps": 0.1, "robust_accuracy": 2 / 3}

    first = PartCheckpoints.for_suite(tmp_path, "robustness", {"steps": 10}, _provenance(), 0)
    value = first.part("eps=0.1", lambda: compute("a"))
    again = PartCheckpoints.for_suite(tmp_path, "robustness", {"steps": 10}, _provenance(), 0)
    assert again.part("eps=0.1", lambda: compute("b")) == value == {"eps": 0.1, "robust_accuracy": 2 / 3}
    assert calls == ["a"]
    for other in (PartCheckpoints.for_suite(tmp_path, "robustness", {"steps": 20}, _provenance(), 0),
                  PartCheckpoints.for_suite(tmp_path, "robustness", {"steps": 10}, _provenance("m2"), 0),
                  PartCheckpoints.for_suite(tmp_path, "robustness", {"steps": 10}, _provenance(), 1)):
        other.part("eps=0.1", lambda: compute("c"))
    assert calls == ["a", "c", "c", "c"]


def test_suite_context_part_without_checkpoints_still_returns_the_json_form() -> None:
    from audit.suite import SuiteContext
    from audit.testing import synthetic_tabular, tabular_model

    data = synthetic_tabular(40, seed=1)
    ctx = SuiteContext(model=tabular_model(data, epochs=1), data=data, seed=0, preset="quick", cache_dir=Path("."))
    assert ctx.part("x", lambda: (1, 2.5)) == [1, 2.5]
    assert dataclasses.is_dataclass(ctx)
