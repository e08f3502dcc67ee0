"""`audit run-many --model a,b,c`: audit several models as one job, each in its own folder, then a leaderboard.

One model under several configs: `--model german-mlp@strict.toml,german-mlp@lenient.toml` (each file layered over
--config for that entry); the leaderboard names such rows MODEL@FILE.

The runs share one executor (one Ray instance for the whole job with --executor ray). Every model name is checked
before the first audit starts, so a typo in the third name does not surface after two audits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audit.config import AuditConfig, did_you_mean
from audit.errors import AuditInputError
from audit.executors import make_executor
from audit.leaderboard import Leaderboard, build, run_dir_name, write_leaderboard
from audit.session import Outcome, execute

CONFIG_SUFFIX = ".toml"


@dataclass(frozen=True)
class ManyEntry:
    """One audit of the job: a model, and the config file it runs under (over --config) when one is named."""

    model: str
    config: Path | None = None

    @property
    def label(self) -> str:
        """How the leaderboard names the row: the model, or MODEL@FILE as given."""
        return self.model if self.config is None else f"{self.model}@{self.config}"

    @property
    def folder_label(self) -> str:
        return self.model if self.config is None else f"{Path(self.model).name}@{self.config.stem}"


@dataclass(frozen=True)
class ManyOutcome:
    runs: tuple[Outcome, ...]
    leaderboard: Leaderboard
    files: dict[str, Path]
    exit_code: int  # the worst of the runs' exit codes (2 before 1 before 0)
    entries: tuple[ManyEntry, ...]  # in the leaderboard's order


def parse_models(text: str) -> tuple[ManyEntry, ...]:
    """`a,b,c`; an entry `MODEL@FILE.toml` audits MODEL under that config file, so one model may appear under
    several configs (german-mlp@strict.toml,german-mlp@lenient.toml)."""
    entries = tuple(_entry(m.strip()) for m in text.split(",") if m.strip())
    if not entries:
        raise AuditInputError("--model is empty; pass a comma list of zoo models or model files, e.g. "
                              "german-mlp,compas-mlp (MODEL@FILE.toml audits MODEL under that config file)")
    labels = [e.label for e in entries]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise AuditInputError(f"--model names {repeated[0]!r} twice; list each model once, or audit it under "
                              "different configs with MODEL@FILE.toml")
    return entries


def _entry(text: str) -> ManyEntry:
    model, at, config = text.rpartition("@")
    if at and model and config.lower().endswith(CONFIG_SUFFIX):
        return ManyEntry(model, Path(config))
    return ManyEntry(text)


def _check_models(entries: Sequence[ManyEntry]) -> None:
    from audit.models import zoo

    for entry in entries:
        if entry.model not in zoo.ZOO_MODELS and not Path(entry.model).is_file():
            raise AuditInputError(f"--model {entry.model!r} is neither a zoo model nor an existing file"
                                  f"{did_you_mean(entry.model, sorted(zoo.ZOO_MODELS))}")


def _check_configs(entries: Sequence[ManyEntry], configs: Sequence[AuditConfig]) -> None:
    if any(cfg.resume for cfg in configs):
        raise AuditInputError("--resume continues one run; resume each run of a run-many job with audit run")
    places = {(cfg.executor, cfg.ray_address, cfg.jobs) for cfg in configs}
    if len(places) > 1:
        named = ", ".join(e.label for e, c in zip(entries, configs, strict=True) if (c.executor, c.ray_address, c.jobs)
                          != (configs[0].executor, configs[0].ray_address, configs[0].jobs))
        raise AuditInputError(f"executor, ray_address and jobs apply to the whole job, but {named} set them "
                              "differently; set them on the command line or in --config, not in MODEL@FILE")


def run_many(entries: Sequence[ManyEntry], configs: Sequence[AuditConfig], out_dir: Path,
             progress: object = None) -> ManyOutcome:
    """Each entry audited under its config (configs[i], already merged and validated), one run folder each."""
    _check_models(entries)
    _check_configs(entries, configs)
    executor = make_executor(configs[0].executor, configs[0].ray_address, configs[0].jobs)
    runs = []
    try:
        for index, (entry, cfg) in enumerate(zip(entries, configs, strict=True)):
            run_cfg = dataclasses.replace(cfg, model=entry.model,
                                          out=str(out_dir / run_dir_name(entry.folder_label, index)))
            runs.append(execute(run_cfg, progress, executor))  # type: ignore[arg-type]
    finally:
        getattr(executor, "close", lambda: None)()
    board = build([(o.scorecard, o.out_dir) for o in runs], [e.label for e in entries])
    codes = [o.scorecard.exit_code for o in runs]
    worst = 2 if 2 in codes else max(codes, default=0)
    return ManyOutcome(tuple(runs), board, write_leaderboard(board, out_dir), worst, tuple(entries))
