"""Loading two finished runs and deciding whether their rows may be paired."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.errors import AuditInputError
from audit.evidence import LoadedEvidence, load_run_evidence
from audit.types import Scorecard

# Evidence over every audited row: if these differ, the runs did not audit the same rows.
_FULL_ROW_SETS = ("accuracy", "fairness")


@dataclass(frozen=True, eq=False)
class LoadedRun:
    path: Path
    scorecard: Scorecard
    evidence: dict[str, LoadedEvidence]


def load_run(path: Path | str, role: str) -> LoadedRun:
    """A run folder (or its scorecard.json) with its per-row evidence."""
    from audit.reports import load_scorecard

    path = Path(path)
    folder = path.parent if path.name == "scorecard.json" else path
    card = folder / "scorecard.json"
    if not card.is_file():
        raise AuditInputError(f"{role} {path} has no scorecard.json; pass the output folder of an `audit run`")
    scorecard = load_scorecard(card)
    if not scorecard.complete:
        raise AuditInputError(f"{role} run {folder} did not finish (scorecard.json is incomplete); finish or re-run it")
    return LoadedRun(folder, scorecard, load_run_evidence(folder))


def pairing_problems(baseline: LoadedRun, candidate: LoadedRun) -> list[str]:
    """Why the two runs' rows cannot be paired (empty when they can)."""
    problems = []
    b, c = baseline.scorecard.provenance, candidate.scorecard.provenance
    if b.data_sha256 != c.data_sha256:
        problems.append(f"the audit data differ (data sha256 {b.data_sha256[:12]}… vs {c.data_sha256[:12]}…)")
    for suite in _FULL_ROW_SETS:
        eb, ec = baseline.evidence.get(suite), candidate.evidence.get(suite)
        if eb is not None and ec is not None and eb.rows_sha256 != ec.rows_sha256:
            problems.append(f"the rows {suite} audited differ (row-set sha256 {eb.rows_sha256[:12]}… vs "
                            f"{ec.rows_sha256[:12]}…)")
    if not baseline.evidence or not candidate.evidence:
        missing = [str(r.path) for r in (baseline, candidate) if not r.evidence]
        problems.append(f"no per-row evidence in {', '.join(missing)} (written by audit runs since evidence/ was "
                        "added; re-run the audit)")
    return problems
