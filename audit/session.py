"""From a validated config to a finished audit: load model and data, run, write the reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit import runner
from audit.config import AuditConfig, did_you_mean
from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.models.types import ModelUnderAudit
from audit.types import Scorecard


@dataclass(frozen=True)
class Outcome:
    scorecard: Scorecard
    out_dir: Path
    files: dict[str, Path]


def load_model_and_data(cfg: AuditConfig) -> tuple[ModelUnderAudit, Dataset]:
    """A zoo name trains/loads the reference model with its own data; a file needs --data and --label."""
    from audit.models import zoo

    if cfg.model in zoo.ZOO_MODELS:
        if cfg.data is not None:
            raise AuditInputError(
                f"--data cannot be combined with the zoo model {cfg.model!r}, which is audited on its own reference "
                "data; pass your model file to --model to audit it on your data"
            )
        return zoo.load_zoo_model(cfg.model, device=cfg.device, home=runner.audit_home())
    path = Path(cfg.model)
    if not path.exists():
        raise AuditInputError(
            f"--model {cfg.model!r} is neither a zoo model nor an existing file"
            f"{did_you_mean(cfg.model, sorted(zoo.ZOO_MODELS))}"
        )
    if cfg.data is None or not cfg.label:
        raise AuditInputError(f"auditing the model file {path} needs --data PATH and --label COLUMN")
    return _user_model(cfg, path)


def _user_model(cfg: AuditConfig, path: Path) -> tuple[ModelUnderAudit, Dataset]:
    from audit.data.user import load_user_data
    from audit.models.loaders import load_user_model

    data = load_user_data(
        Path(cfg.data), label=cfg.label, sensitive=cfg.sensitive, features=cfg.features,
        train_path=Path(cfg.train_data) if cfg.train_data else None, seed=cfg.seed,
        missing_group=cfg.missing_group,
    )
    model = load_user_model(
        path, data=data, arch=cfg.arch, arch_kwargs=dict(cfg.arch_kwargs),
        allow_unsafe_load=cfg.allow_unsafe_load, device=cfg.device,
    )
    return model, data


def execute(cfg: AuditConfig, progress: runner.ProgressSink | None = None) -> Outcome:
    """Plan (validate), load, run every suite, then render all reports from scorecard.json's content."""
    from audit import provenance
    from audit.reports import write_reports

    plan = runner.plan(cfg)
    model, data = load_model_and_data(cfg)
    out_dir = Path(cfg.out) if cfg.out else runner.default_out_dir(model.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    audit = runner.Audit(
        config=cfg, plan=plan, model=model, data=data,
        provenance=provenance.collect(model, data, cfg.sha256()),
        out_dir=out_dir, cache_dir=runner.audit_home() / "cache",
    )
    scorecard = runner.run(audit, progress)
    return Outcome(scorecard, out_dir, write_reports(scorecard, out_dir))
