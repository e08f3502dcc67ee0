"""`audit run --resume DIR`: carry over the suites a killed run finished, so only the rest run.

A finished suite is kept only when everything that determines its figures is the same: model and data hashes,
seed, code version (audit and torch) and the suite's parameters. Any difference is refused (exit 2) naming it,
because mixing figures from two different audits in one scorecard would be a wrong report. Suites that ended in
an error are run again. The kept suites' per-row evidence and finished parts come along with them.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from audit.checkpoints import CHECKPOINT_DIR, suite_identity
from audit.errors import AuditInputError
from audit.evidence import evidence_path
from audit.types import JSONValue, Provenance, SuiteResult, SuiteStatus

SCORECARD = "scorecard.json"


def kept_results(resume_dir: Path, provenance: Provenance, seed: int,
                 planned_params: Mapping[str, Mapping[str, JSONValue]]) -> dict[str, SuiteResult]:
    """The earlier run's finished results for the planned suites (name -> params); refused on any mismatch."""
    from audit.reports import load_scorecard

    path = Path(resume_dir) / SCORECARD
    if not path.is_file():
        raise AuditInputError(f"--resume {str(resume_dir)!r} holds no {SCORECARD}; pass the folder of the run to "
                              "continue (the --out of the killed run)")
    parts = Path(resume_dir) / CHECKPOINT_DIR
    if parts.exists() and not parts.is_dir():
        raise AuditInputError(f"cannot resume {str(resume_dir)!r}: its {CHECKPOINT_DIR!r} is not a folder (a run keeps "
                              "its finished parts in one); move it away, or start a new run without --resume")
    earlier = load_scorecard(path)
    _refuse_run_differences(resume_dir, earlier.provenance, earlier.run.seed, provenance, seed)
    kept = {}
    for result in earlier.results:
        if result.suite not in planned_params or result.status is SuiteStatus.ERROR:
            continue
        _refuse_param_differences(resume_dir, result, planned_params[result.suite])
        kept[result.suite] = result
    return kept


def _refuse_run_differences(resume_dir: Path, before: Provenance, seed_before: int, now: Provenance,
                            seed_now: int) -> None:
    old, new = suite_identity(before, seed_before, {}), suite_identity(now, seed_now, {})
    differ = [f"{key} {_short(old[key])} then, {_short(new[key])} now" for key in old if old[key] != new[key]]
    if differ:
        raise AuditInputError(f"cannot resume {str(resume_dir)!r}: this run differs from it ({'; '.join(differ)}). "
                              "Resume with the same model, data, seed and audit version, or start a new run "
                              "without --resume")


def _refuse_param_differences(resume_dir: Path, result: SuiteResult, params: Mapping[str, JSONValue]) -> None:
    before = dict(result.params)
    differ = sorted(k for k in set(before) | set(params) if before.get(k) != params.get(k))
    if differ:
        shown = "; ".join(f"{result.suite}.{k} = {before.get(k)!r} then, {params.get(k)!r} now" for k in differ)
        raise AuditInputError(f"cannot resume {str(resume_dir)!r}: suite parameters differ ({shown}). Resume with "
                              "the same settings, or start a new run without --resume")


def _short(value: JSONValue) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "…"


def carry_files(resume_dir: Path, out_dir: Path, suites: Sequence[str]) -> None:
    """Copy the kept suites' evidence files and finished parts into a different output folder."""
    if Path(resume_dir).resolve() == Path(out_dir).resolve():
        return
    for suite in suites:
        source = evidence_path(resume_dir, suite)
        if source.is_file():
            evidence_path(out_dir, suite).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, evidence_path(out_dir, suite))
    parts = Path(resume_dir) / CHECKPOINT_DIR
    if parts.is_dir():
        shutil.copytree(parts, Path(out_dir) / CHECKPOINT_DIR, dirs_exist_ok=True)
