"""`audit run-many`: several models audited as one job, and the leaderboard of their scorecards.

The leaderboard is computed here from the runs' scorecards (models × pillars: the pillar's verdict and one headline
figure with its CI); audit.reports.leaderboard only renders it. A headline is chosen by a fixed rule per pillar (the
worst of the named figure across attributes or ε, by its own direction), so every model is read the same way.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.pillars import PILLAR_NAMES
from audit.types import Measurement, Scorecard, SuiteStatus, to_json_dict

# Pillar -> figure patterns tried in order (suite.measurement); the first pattern that matches any figure wins.
HEADLINES: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy.accuracy",),
    "fairness": ("fairness.dp_difference[[]*]", "fairness.*"),
    "robustness": ("robustness.robust_accuracy*", "robustness.*"),
    "privacy": ("privacy.*auc*", "privacy.*"),
    "explainability": ("explainability.*",),
    "efficiency": ("efficiency.*",),
    "data": ("data.*",),
}


@dataclass(frozen=True)
class Cell:
    pillar: str
    verdict: str | None  # None: no suite of this pillar ran
    metric: str = ""  # "suite.measurement" of the headline figure ("" when none)
    value: float | None = None
    ci: tuple[float, float] | None = None
    higher_is_better: bool | None = None


@dataclass(frozen=True)
class Entry:
    model: str
    run_dir: str
    verdict: str
    exit_code: int
    complete: bool
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Leaderboard:
    pillars: tuple[str, ...]
    entries: tuple[Entry, ...]


def headline(scorecard: Scorecard, pillar: str) -> tuple[str, Measurement] | None:
    """The pillar's headline figure: the worst match of the first pattern that matches, by its direction."""
    figures = [(f"{r.suite}.{m.name}", m) for r in scorecard.results if r.pillar == pillar
               and r.status is SuiteStatus.OK for m in r.measurements if m.value == m.value]  # NaN has no rank
    for pattern in HEADLINES.get(pillar, (f"{pillar}.*",)):
        matches = [(key, m) for key, m in figures if fnmatch.fnmatchcase(key, pattern)]
        if matches:
            direction = matches[0][1].higher_is_better
            if direction is None:
                return matches[0]
            return (min if direction else max)(matches, key=lambda km: km[1].value)
    return None


def entry_for(scorecard: Scorecard, run_dir: Path, label: str | None = None) -> Entry:
    """The row of one run, named `label` (run-many's MODEL@FILE) or the scorecard's model."""
    verdicts = {p.pillar: (p.verdict.value if p.verdict is not None else None) for p in scorecard.pillars}
    cells = []
    for pillar in PILLAR_NAMES:
        found = headline(scorecard, pillar)
        if found is None:
            cells.append(Cell(pillar, verdicts.get(pillar)))
            continue
        key, m = found
        cells.append(Cell(pillar, verdicts.get(pillar), key, m.value, m.ci, m.higher_is_better))
    return Entry(label or scorecard.run.model, str(run_dir), scorecard.verdict.value, scorecard.exit_code,
                 scorecard.complete, tuple(cells))


def build(runs: Sequence[tuple[Scorecard, Path]], labels: Sequence[str] | None = None) -> Leaderboard:
    """Pillars that no run covered are left out of the table. `labels` name the rows (default: each run's model)."""
    names = list(labels) if labels is not None else [None] * len(runs)
    entries = tuple(entry_for(card, path, label) for (card, path), label in zip(runs, names, strict=True))
    used = tuple(p for p in PILLAR_NAMES if any(c.verdict is not None or c.metric for e in entries for c in e.cells
                                                if c.pillar == p))
    kept = tuple(Entry(e.model, e.run_dir, e.verdict, e.exit_code, e.complete,
                       tuple(c for c in e.cells if c.pillar in used)) for e in entries)
    return Leaderboard(used, kept)


def write_leaderboard(board: Leaderboard, out_dir: Path) -> dict[str, Path]:
    """leaderboard.json (the data), leaderboard.md and leaderboard.html (renderings of it)."""
    from audit.reports.json_io import atomic_write_text
    from audit.reports.leaderboard import render_html, render_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "json": atomic_write_text(out_dir / "leaderboard.json", json.dumps(to_json_dict(board), indent=2) + "\n"),
        "md": atomic_write_text(out_dir / "leaderboard.md", render_markdown(board)),
        "html": atomic_write_text(out_dir / "leaderboard.html", render_html(board)),
    }


def run_dir_name(model: str, index: int) -> str:
    """A folder name per model that no model name can turn into a path outside the job's folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model).name).lstrip(".") or "model"
    return f"{index + 1:02d}-{safe[:60]}"
