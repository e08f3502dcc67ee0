"""From a validated config to a finished audit: load model and data, run, write the reports."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit import runner
from audit.config import AuditConfig, did_you_mean
from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.executors import Executor
from audit.models.types import ModelUnderAudit
from audit.types import Scorecard


@dataclass(frozen=True)
class Outcome:
    scorecard: Scorecard
    out_dir: Path
    files: dict[str, Path]


def load_model_and_data(cfg: AuditConfig) -> tuple[ModelUnderAudit, Dataset, Mapping[str, str]]:
    """A zoo name trains/loads the reference model with its own data; a file needs --data and --label.

    Also returns the data columns left out of the model inputs (column -> why)."""
    from audit.models import zoo

    if cfg.predictions is not None:
        return _predictions(cfg)
    if cfg.model in zoo.ZOO_MODELS:
        if cfg.data is not None:
            raise AuditInputError(
                f"--data cannot be combined with the zoo model {cfg.model!r}, which is audited on its own reference "
                "data; pass your model file to --model to audit it on your data"
            )
        return *zoo.load_zoo_model(cfg.model, device=cfg.device, home=runner.audit_home()), {}
    path = Path(cfg.model)
    if not path.exists():
        raise AuditInputError(
            f"--model {cfg.model!r} is neither a zoo model nor an existing file"
            f"{did_you_mean(cfg.model, sorted(zoo.ZOO_MODELS))}"
        )
    if path.is_dir() and cfg.data is not None and (cfg.image_column or Path(cfg.data).is_dir()):
        return _hf_image_model(cfg, path)  # an ImageFolder --data takes its labels from its subfolders
    if cfg.data is None or not cfg.label:
        raise AuditInputError(f"auditing the model file {path} needs --data PATH and --label COLUMN")
    if path.is_dir():
        return _hf_model(cfg, path)
    return _user_model(cfg, path)


def _hf_model(cfg: AuditConfig, path: Path) -> tuple[ModelUnderAudit, Dataset, Mapping[str, str]]:
    """A local Hugging Face text classifier folder (or PEFT adapter) on a text file: --text-column names the text."""
    from audit.data.text import TextColumns, load_text_data
    from audit.models import hf
    from audit.models.device import resolve_device

    if not hf.is_hf_folder(path):
        raise AuditInputError(f"--model {str(path)!r} is a folder without config.json or adapter_config.json; pass a "
                              "folder written by save_pretrained, or a model file")
    if not cfg.text_column:
        raise AuditInputError(f"auditing the Hugging Face folder {path} needs --text-column COLUMN naming the text "
                              "(a text classifier) or --image-column COLUMN naming image paths (an image classifier)")
    assert cfg.data is not None and cfg.label is not None
    loaded = hf.load_hf_folder(path, Path(cfg.base_model) if cfg.base_model else None, cfg.allow_unsafe_load)
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    data = load_text_data(Path(cfg.data), TextColumns(cfg.text_column, cfg.label, tuple(cfg.sensitive)),
                          loaded.class_names, encoder, Path(cfg.train_data) if cfg.train_data else None,
                          cfg.missing_group)
    model = hf.hf_model(loaded, encoder, path.resolve().name, str(path), resolve_device(cfg.device))
    return model, data, {}


def _hf_image_model(cfg: AuditConfig, path: Path) -> tuple[ModelUnderAudit, Dataset, Mapping[str, str]]:
    """A local Hugging Face image classifier folder (or PEFT adapter) on an image table or an ImageFolder."""
    from audit.data.images import ImageColumns, load_image_data
    from audit.models import hf, hf_image
    from audit.models.device import resolve_device

    if not hf.is_hf_folder(path):
        raise AuditInputError(f"--model {str(path)!r} is a folder without config.json or adapter_config.json; pass a "
                              "folder written by save_pretrained, or a model file")
    if cfg.text_column:
        raise AuditInputError("--text-column and an image data set (--image-column or a folder as --data) exclude "
                              "each other; pass one")
    assert cfg.data is not None
    loaded = hf_image.load_hf_image_folder(path, Path(cfg.base_model) if cfg.base_model else None,
                                           cfg.allow_unsafe_load)
    pixels = hf_image.HFImagePixels(loaded.tokenizer, hf_image.image_channels(loaded), path)
    data = load_image_data(Path(cfg.data), ImageColumns(cfg.image_column, cfg.label, tuple(cfg.sensitive)),
                           loaded.class_names, pixels, Path(cfg.train_data) if cfg.train_data else None,
                           cfg.missing_group)
    model = hf_image.hf_image_model(loaded, pixels, data.input_shape, path.resolve().name, str(path),
                                    resolve_device(cfg.device))
    return model, data, {}


def _predictions(cfg: AuditConfig) -> tuple[ModelUnderAudit, Dataset, Mapping[str, str]]:
    """A file of predictions: the model is its answers for its own rows, which are the audited data."""
    from audit.config import DEFAULT_MODEL
    from audit.models.predictions import PredictionColumns, load_predictions

    if cfg.model != DEFAULT_MODEL:
        raise AuditInputError(f"--predictions and --model {cfg.model!r} exclude each other: audit either a file of "
                              "predictions or a model")
    assert cfg.label is not None
    columns = PredictionColumns(label=cfg.label, prediction=cfg.prediction_column, score=cfg.score_column,
                                proba=tuple(cfg.proba_columns), sensitive=tuple(cfg.sensitive),
                                features=tuple(cfg.features or ()))
    return *load_predictions(Path(cfg.predictions), columns, cfg.missing_group), {}


def _user_model(cfg: AuditConfig, path: Path) -> tuple[ModelUnderAudit, Dataset, Mapping[str, str]]:
    from audit.data.user import load_user_inputs
    from audit.models.adapters import open_model_file

    opened = open_model_file(path, arch=cfg.arch, arch_kwargs=dict(cfg.arch_kwargs),
                             allow_unsafe_load=cfg.allow_unsafe_load, device=cfg.device)
    inputs = load_user_inputs(
        Path(cfg.data), label=cfg.label, sensitive=cfg.sensitive,
        features=cfg.features if cfg.features is not None else opened.features,
        train_path=Path(cfg.train_data) if cfg.train_data else None, seed=cfg.seed,
        missing_group=cfg.missing_group,
    )
    try:
        model = opened.bind(inputs.dataset)
    except AuditInputError as exc:
        if not inputs.left_out:
            raise
        raise AuditInputError(f"{exc}\n{_left_out_note(inputs.left_out)}") from None
    return model, inputs.dataset, inputs.left_out


def _left_out_note(left_out: Mapping[str, str]) -> str:
    """Why a column the model may expect was not passed to it, and how to pass it."""
    reasons = "; ".join(f"{column!r} is {why}" for column, why in left_out.items())
    return (f"Note: column(s) {list(left_out)} were left out of the model inputs: {reasons}. If the model was "
            "trained on such a column, write it into the file as numbers (e.g. 0/1 or one-hot) and list the "
            "model's input columns with --features.")


def prepare_out_dir(path: Path) -> None:
    """Create the output folder and prove it writable now, before the model loads, not after the audit ran."""
    if path.exists() and not path.is_dir():
        raise AuditInputError(f"--out {str(path)!r} is an existing file, not a folder; pass a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".audit-write-check-"):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AuditInputError(
            f"cannot write reports to {str(path)!r} ({reason}); pass --out a folder you can write to"
        ) from None


def used_inputs(cfg: AuditConfig, data: Dataset, left_out: Mapping[str, str]) -> dict[str, Any]:
    """What the run actually audited, for the scorecard (the flags alone may be empty, e.g. default sensitive
    attributes of a reference data set)."""
    used: dict[str, Any] = {
        "data": data.source, "label": cfg.label or f"the label of the reference data set {data.name!r}",
        "classes": list(data.class_names), "sensitive": list(data.sensitive_attributes),
        "features": list(data.feature_names) or f"{data.input_kind} input",
        "rows": {"audited": len(data.test), "training": len(data.train) if data.train is not None else 0},
    }
    if left_out:
        used["left_out_of_features"] = dict(left_out)
    return used


def model_inputs(model: ModelUnderAudit) -> dict[str, Any]:
    """What the audited model can do, and how its file was read, for the scorecard."""
    used: dict[str, Any] = {"model_kind": model.source.kind, "capabilities": sorted(model.capabilities)}
    if model.description:
        used["model_read_as"] = model.description
    return used


def execute(cfg: AuditConfig, progress: runner.ProgressSink | None = None,
            executor: Executor | None = None) -> Outcome:
    """Plan (validate), load, run every suite, then render all reports from scorecard.json's content."""
    from audit import provenance
    from audit.executors import make_executor
    from audit.reports import write_reports

    plan = runner.plan(cfg)
    owned = executor is None  # an executor passed in (audit run-many) is shared by its runs and closed by the caller
    executor = executor or make_executor(cfg.executor, cfg.ray_address, cfg.jobs)
    chosen_out = cfg.out or cfg.resume  # a resumed run continues in its own folder unless --out says otherwise
    prepare_out_dir(Path(chosen_out) if chosen_out else runner.default_out_dir("audit").parent)
    model, data, left_out = load_model_and_data(cfg)
    cfg = dataclasses.replace(cfg, used={**used_inputs(cfg, data, left_out), **model_inputs(model)})
    out_dir = Path(chosen_out) if chosen_out else runner.default_out_dir(model.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    audit = runner.Audit(
        config=cfg, plan=plan, model=model, data=data,
        provenance=provenance.collect(model, data, cfg.sha256()),
        out_dir=out_dir, cache_dir=runner.audit_home() / "cache",
    )
    try:
        scorecard = runner.run(audit, progress, executor, _resumed(cfg, audit))
    finally:
        if owned:
            getattr(executor, "close", lambda: None)()
    return Outcome(scorecard, out_dir, write_reports(scorecard, out_dir))


def _resumed(cfg: AuditConfig, audit: runner.Audit) -> dict[str, Any]:
    """--resume DIR: the killed run's finished suites (refused, exit 2, when anything that sets a figure differs);
    without it, nothing an earlier run left in the folder is reused."""
    from audit.checkpoints import discard_parts
    from audit.resume import carry_files, kept_results

    if not cfg.resume:
        discard_parts(audit.out_dir)
        return {}
    params = {p.name: runner.params_json_of(p) for p in audit.plan.suites}
    kept = kept_results(Path(cfg.resume), audit.provenance, cfg.seed, params)
    carry_files(Path(cfg.resume), audit.out_dir, list(kept))
    return kept
