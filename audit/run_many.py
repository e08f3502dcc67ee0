"""`audit run-many --model a,b,c`: audit several models as one job, each in its own folder, then a leaderboard.

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


@dataclass(frozen=True)
class ManyOutcome:
    runs: tuple[Outcome, ...]
    leaderboard: Leaderboard
    files: dict[str, Path]
    exit_code: int  # the worst of the runs' exit codes (2 before 1 before 0)


def parse_models(text: str) -> tuple[str, ...]:
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    if not models:
        raise AuditInputError("--model is empty; pass a comma list of zoo models or model files, e.g. "
                              "german-mlp,compas-mlp")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise AuditInputError(f"--model names {repeated[0]!r} twice; list each model once")
    return models


def _check_models(models: Sequence[str], cfg: AuditConfig) -> None:
    from audit.models import zoo

    for model in models:
        if model not in zoo.ZOO_MODELS and not Path(model).is_file():
            raise AuditInputError(f"--model {model!r} is neither a zoo model nor an existing file"
                                  f"{did_you_mean(model, sorted(zoo.ZOO_MODELS))}")
    if cfg.resume:
        raise AuditInputError("--resume continues one run; resume each run of a run-many job with audit run")


def run_many(models: Sequence[str], cfg: AuditConfig, out_dir: Path, progress: object = None) -> ManyOutcome:
    _check_models(models, cfg)
    executor = make_executor(cfg.executor, cfg.ray_address)
    runs = []
    try:
        for index, model in enumerate(models):
            run_cfg = dataclasses.replace(cfg, model=model, out=str(out_dir / run_dir_name(model, index)))
            runs.append(execute(run_cfg, progress, executor))  # type: ignore[arg-type]
    finally:
        getattr(executor, "close", lambda: None)()
    board = build([(o.scorecard, o.out_dir) for o in runs])
    codes = [o.scorecard.exit_code for o in runs]
    worst = 2 if 2 in codes else max(codes, default=0)
    return ManyOutcome(tuple(runs), board, write_leaderboard(board, out_dir), worst)
