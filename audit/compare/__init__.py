"""Paired comparison of two audit runs (a release against the one it replaces): exact McNemar for accuracy, a
paired bootstrap for every other measurement with per-row evidence, Benjamini–Hochberg across all of them,
regression margins judged on the CI of each change, and waivers. Writes comparison.json/.md/.html and junit.xml.
"""

from __future__ import annotations

from pathlib import Path

from audit.compare.engine import CompareSettings, compare_runs
from audit.compare.report_html import render_comparison_html
from audit.compare.report_text import (
    render_comparison_json,
    render_comparison_junit,
    render_comparison_markdown,
)
from audit.compare.runs import LoadedRun, load_run
from audit.compare.types import Comparison
from audit.config import AuditConfig
from audit.errors import AuditInputError
from audit.policy.regression import build_regression_policy
from audit.policy.waivers import parse_waivers

FILE_NAMES = {"json": "comparison.json", "md": "comparison.md", "html": "comparison.html", "junit": "junit.xml"}
_RENDERERS = {"json": render_comparison_json, "md": render_comparison_markdown, "html": render_comparison_html,
              "junit": render_comparison_junit}

__all__ = ["CompareSettings", "Comparison", "FILE_NAMES", "LoadedRun", "compare_dirs", "compare_runs", "load_run",
           "settings_from_config", "write_comparison"]


def settings_from_config(config: AuditConfig, resamples: int = 1000, unpaired: bool = False) -> CompareSettings:
    if resamples < 100:
        raise AuditInputError(f"--resamples {resamples} is too few for a 95% interval; use at least 100")
    return CompareSettings(resamples=resamples, seed=config.seed, unpaired=unpaired,
                           regression=build_regression_policy(config.regression, config.default_policy),
                           waivers=parse_waivers(config.waivers))


def default_out_dir(candidate: Path) -> Path:
    """`comparison/` inside the candidate run's folder."""
    folder = candidate.parent if candidate.name == "scorecard.json" else candidate
    return folder / "comparison"


def write_comparison(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    from audit.reports.json_io import atomic_write_text

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AuditInputError(f"--out {out_dir} exists and is not a folder; pass a folder for the comparison reports")
    return {fmt: atomic_write_text(out_dir / name, _RENDERERS[fmt](comparison)) for fmt, name in FILE_NAMES.items()}


def compare_dirs(baseline: Path, candidate: Path, settings: CompareSettings,
                 out_dir: Path | None = None) -> tuple[Comparison, dict[str, Path]]:
    """Load both runs, compare them and write the four reports."""
    comparison = compare_runs(load_run(baseline, "baseline"), load_run(candidate, "candidate"), settings)
    return comparison, write_comparison(comparison, out_dir or default_out_dir(Path(candidate)))
