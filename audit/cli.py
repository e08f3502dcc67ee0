"""Command line: run | report | list | train. Parsing only; the work happens in audit.session & co."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from audit.allocator import keep_freed_memory
from audit.console import printable
from audit.errors import AuditInputError
from audit.gating import EXIT_INTERNAL, EXIT_USAGE

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Audit a PyTorch model: accuracy, robustness, fairness, privacy, explainability, efficiency.")
err = Console(stderr=True, highlight=False)
T = TypeVar("T")


def _guard(action: Callable[[], T]) -> T:
    """Bad input: one message, exit 2, no traceback. Anything else: exit 3 with the traceback."""
    try:
        return action()
    except AuditInputError as exc:
        err.print(f"audit: error: {printable(exc, keep_newlines=True)}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("audit: interrupted; suites that finished are in scorecard.json", markup=False)
        raise typer.Exit(130) from None
    except Exception:
        err.print("audit: internal error (please report it):", markup=False)
        err.print(printable(traceback.format_exc(), keep_newlines=True), markup=False)
        raise typer.Exit(EXIT_INTERNAL) from None


Opt = typer.Option


def _default(name: str) -> str:
    """The built-in default of a `run` setting, as --help shows it."""
    from audit.config import AuditConfig

    return str(getattr(AuditConfig(), name))


@app.command()
def run(
    suite: Annotated[str | None, Opt(help="full | quick | comma list of suites",
                                     show_default=_default("suite"))] = None,
    model: Annotated[str | None, Opt(help="zoo model name, model file (.pt2, .safetensors, .pt, .skops, .onnx) or "
                                     "Hugging Face folder",
                                     show_default=_default("model"))] = None,
    data: Annotated[str | None, Opt(help="CSV or Parquet file of rows to audit on",
                                    show_default="the zoo model's reference data")] = None,
    label: Annotated[str | None, Opt(help="label column of --data", show_default="none; needed with --data")] = None,
    sensitive: Annotated[str | None, Opt(help="sensitive attribute column(s), comma separated",
                                         show_default="reference data: its own; your data: none")] = None,
    features: Annotated[str | None, Opt(help="model input columns of --data, comma separated",
                                        show_default="all but the label and text-valued sensitive columns")] = None,
    train_data: Annotated[str | None, Opt("--train-data", help="the model's training rows (for privacy)",
                                          show_default="none")] = None,
    predictions: Annotated[str | None, Opt(help="CSV or Parquet file of predictions to audit without the model "
                                           "(with --label)", show_default="none")] = None,
    prediction_column: Annotated[str | None, Opt("--prediction-column", help="predicted class column of "
                                                 "--predictions", show_default="prediction")] = None,
    score_column: Annotated[str | None, Opt("--score-column", help="score of the positive class in --predictions "
                                            "(any monotone score)", show_default="none")] = None,
    proba_columns: Annotated[str | None, Opt("--proba-columns", help="probability columns of --predictions, one per "
                                             "class in sorted label order", show_default="none")] = None,
    missing_group: Annotated[bool | None, Opt("--missing-group", help="NaN sensitive values form a group",
                                              show_default="off")] = None,
    text_column: Annotated[str | None, Opt("--text-column", help="text column of --data, for a Hugging Face "
                                           "text classifier folder given to --model", show_default="none")] = None,
    image_column: Annotated[str | None, Opt("--image-column", help="image path column of --data (paths relative to "
                                            "the data file), for a Hugging Face image classifier folder; a folder "
                                            "of class subfolders as --data needs none", show_default="none")] = None,
    base_model: Annotated[str | None, Opt("--base-model", help="local base model folder of a PEFT/LoRA adapter "
                                          "folder given to --model", show_default="the adapter config's")] = None,
    arch: Annotated[str | None, Opt(help="module:Class for safetensors/state-dict weights",
                                    show_default="none")] = None,
    arch_kwargs: Annotated[str | None, Opt("--arch-kwargs", help="JSON keyword arguments for --arch",
                                           show_default="{}")] = None,
    allow_unsafe_load: Annotated[bool | None, Opt("--allow-unsafe-load", help="allow TorchScript (runs code); "
                                                  "never read from ./pyproject.toml", show_default="off")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda", show_default=_default("device"))] = None,
    seed: Annotated[int | None, Opt(help="seed for everything (0 to 2**32-1)", show_default=_default("seed"))] = None,
    config: Annotated[Path | None, Opt(help="TOML config file", show_default="none")] = None,
    out: Annotated[str | None, Opt(help="output folder", show_default="reports/<model>-<time>")] = None,
    gate_on: Annotated[str | None, Opt("--gate-on", help="value | ci", show_default=_default("gate_on"))] = None,
    card: Annotated[Path | None, Opt("--card", help="model card TOML (model_name, owner, intended_use, …)",
                                     show_default="[tool.audit.card], else none")] = None,
    baseline: Annotated[str | None, Opt("--baseline", help="run folder of the release this model replaces: also "
                                        "compare against it (writes OUT/comparison/)", show_default="none")] = None,
    resume: Annotated[str | None, Opt("--resume", help="folder of a killed run: keep its finished suites (same "
                                      "model, data, seed, settings), run the rest", show_default="none")] = None,
    executor: Annotated[str | None, Opt("--executor", help="local | ray (suites in parallel; pip install "
                                        "'audit[ray]')", show_default=_default("executor"))] = None,
    ray_address: Annotated[str | None, Opt("--ray-address", help="auto | HOST:PORT of a Ray cluster to join",
                                           show_default="a private local Ray instance")] = None,
    jobs: Annotated[int | None, Opt("--jobs", help="suites at once on the local executor (1: one after another)",
                                    show_default="one per usable core")] = None,
) -> None:
    """Run suites on a model and write scorecard.json, .md, .html and junit.xml.

    Flags win over --config FILE, which wins over ./pyproject.toml's tool.audit table; defaults fill the rest.
    """
    from audit.config import load_config

    cli_values = dict(suite=suite, model=model, data=data, label=label, sensitive=sensitive, features=features,
                      train_data=train_data, missing_group=missing_group, arch=arch, arch_kwargs=arch_kwargs,
                      predictions=predictions, prediction_column=prediction_column, score_column=score_column,
                      proba_columns=proba_columns, text_column=text_column, base_model=base_model,
                      image_column=image_column,
                      allow_unsafe_load=allow_unsafe_load, device=device, seed=seed, out=out, gate_on=gate_on,
                      card=str(card) if card is not None else None, baseline=baseline, resume=resume,
                      executor=executor, ray_address=ray_address, jobs=jobs)
    cfg = _guard(lambda: load_config(cli_values, config))
    raise typer.Exit(_guard(lambda: _run(cfg)))


@app.command("run-many")
def run_many(
    model: Annotated[str, Opt(help="comma list of zoo models or model files, audited one after another; "
                              "MODEL@FILE.toml audits MODEL under that config file (over --config), so one model "
                              "can appear under several configs")],
    suite: Annotated[str | None, Opt(help="full | quick | comma list of suites",
                                     show_default=_default("suite"))] = None,
    seed: Annotated[int | None, Opt(help="seed for everything (0 to 2**32-1)", show_default=_default("seed"))] = None,
    config: Annotated[Path | None, Opt(help="TOML config file (applies to every model)", show_default="none")] = None,
    out: Annotated[Path, Opt(help="job folder: one run folder per model and the leaderboard")] = Path("reports/many"),
    executor: Annotated[str | None, Opt("--executor", help="local | ray",
                                        show_default=_default("executor"))] = None,
    ray_address: Annotated[str | None, Opt("--ray-address", help="auto | HOST:PORT of a Ray cluster to join",
                                           show_default="a private local Ray instance")] = None,
    jobs: Annotated[int | None, Opt("--jobs", help="suites at once on the local executor (1: one after another)",
                                    show_default="one per usable core")] = None,
) -> None:
    """Audit several models as one job; write each run's folder and leaderboard.md/.html (models × pillars).

    Exit code: the worst of the runs' (0 all gates pass, 1 a gate fails, 2 bad input).
    """
    from audit.config import load_config
    from audit.run_many import parse_models
    from audit.run_many import run_many as run_all

    def action() -> int:
        entries = parse_models(model)
        flags = dict(suite=suite, seed=seed, executor=executor, ray_address=ray_address, jobs=jobs)
        configs = [load_config(flags, config, entry_config=entry.config) for entry in entries]  # all before any run
        outcome = run_all(entries, configs, out)
        console = Console(highlight=False)
        for entry, run_outcome in zip(outcome.entries, outcome.runs, strict=True):
            console.print(printable(f"{entry.label}: {run_outcome.scorecard.verdict.value} "
                                    f"(exit {run_outcome.scorecard.exit_code}) {run_outcome.out_dir}"), markup=False)
        for fmt, path in outcome.files.items():
            console.print(printable(f"{fmt:>5}: {path}"), markup=False)
        console.print(f"exit code {outcome.exit_code}", markup=False)
        return outcome.exit_code

    raise typer.Exit(_guard(action))


def _run(cfg: Any) -> int:
    from audit.console import RichProgress, failing_checks, summary_table, warnings_shown_on
    from audit.session import execute

    console = Console(highlight=False)
    with RichProgress(console) as progress, warnings_shown_on(err):
        outcome = execute(cfg, progress)
    console.print(summary_table(outcome.scorecard))
    bad = failing_checks(outcome.scorecard)
    if bad is not None:
        console.print(bad)
    for fmt, path in outcome.files.items():
        console.print(printable(f"{fmt:>5}: {path}"), markup=False)
    if cfg.baseline:
        return _compare_with_baseline(cfg, outcome, console)
    console.print(f"exit code {outcome.scorecard.exit_code}", markup=False)
    return outcome.scorecard.exit_code


def _compare_with_baseline(cfg: Any, outcome: Any, console: Console) -> int:
    from audit.compare import compare_dirs, settings_from_config
    from audit.gating import combined_exit_code

    comparison, files = compare_dirs(Path(cfg.baseline), outcome.out_dir, settings_from_config(cfg))
    _print_comparison(comparison, files, console)
    code = combined_exit_code(outcome.scorecard.exit_code, comparison.exit_code)
    console.print(f"exit code {code} (run {outcome.scorecard.exit_code}, comparison {comparison.exit_code})",
                  markup=False)
    return code


def _print_comparison(comparison: Any, files: dict[str, Path], console: Console) -> None:
    from audit.compare.report_text import headline

    for check in comparison.checks:
        if check.verdict.value != "pass":
            console.print(printable(f"{check.verdict.value:>21}  {check.key}: {check.reason}"), markup=False)
    console.print(printable(f"comparison: {comparison.verdict.value} — {headline(comparison)}"), markup=False)
    for fmt, path in files.items():
        console.print(printable(f"{fmt:>5}: {path}"), markup=False)


@app.command()
def compare(
    baseline: Annotated[Path, typer.Argument(help="run folder (or its scorecard.json) of the release being replaced")],
    candidate: Annotated[Path, typer.Argument(help="run folder (or its scorecard.json) of the new model")],
    out: Annotated[Path | None, Opt(help="folder for comparison.json/.md/.html and junit.xml",
                                    show_default="CANDIDATE/comparison")] = None,
    unpaired: Annotated[bool, Opt("--unpaired", help="compare runs on different data, with unpaired tests")] = False,
    resamples: Annotated[int, Opt(help="bootstrap resamples per suite")] = 1000,
    seed: Annotated[int | None, Opt(help="seed of the resamples", show_default=_default("seed"))] = None,
    config: Annotated[Path | None, Opt(help="TOML config file: regression margins, waivers, seed",
                                       show_default="none")] = None,
) -> None:
    """Compare a candidate run with its baseline: paired tests, regression margins, waivers.

    Exit 0: no regression gate fails; 1: one does; 2: bad input (e.g. runs on different data without --unpaired).
    """
    from audit.compare import compare_dirs, settings_from_config
    from audit.config import load_config

    def action() -> int:
        cfg = load_config({"seed": seed}, config)
        settings = settings_from_config(cfg, resamples, unpaired)
        comparison, files = compare_dirs(baseline, candidate, settings, out)
        console = Console(highlight=False)
        _print_comparison(comparison, files, console)
        console.print(f"exit code {comparison.exit_code}", markup=False)
        return comparison.exit_code

    raise typer.Exit(_guard(action))


@app.command()
def report(
    scorecard: Annotated[Path, typer.Argument(help="scorecard.json from an earlier run")],
    format: Annotated[str, Opt("--format", help="html | md | junit | json | card | pdf")] = "html",
    out: Annotated[Path | None, Opt(help="file to write (default: beside the scorecard)")] = None,
) -> None:
    """Re-render a scorecard without recomputing anything."""
    from audit.reports import FILE_NAMES, FORMATS, load_scorecard, render
    from audit.reports.json_io import atomic_write_text

    def action() -> None:
        if format not in (*FORMATS, "pdf"):
            raise AuditInputError(f"--format must be one of {', '.join(FORMATS)}, pdf; got {format!r}")
        card = load_scorecard(scorecard)
        if format == "pdf":
            from audit.reports.pdf import write_pdf

            target = write_pdf(card, out or scorecard.with_name("scorecard.pdf"))
        else:
            target = atomic_write_text(out or scorecard.with_name(FILE_NAMES[format]), render(card, format))
        print(printable(str(target)))

    _guard(action)


@app.command()
def bundle(
    run_dir: Annotated[Path, typer.Argument(help="folder written by `audit run` (holds scorecard.json)")],
    out: Annotated[Path | None, Opt(help="zip to write", show_default="RUN_DIR/evidence.zip")] = None,
) -> None:
    """Pack a run into evidence.zip: every report format, model card, per-row evidence, provenance, manifest."""
    from audit.bundle import make_bundle

    def action() -> None:
        path, manifest_sha = make_bundle(run_dir, out)
        print(printable(str(path)))
        print(f"manifest sha256 {manifest_sha} (keep it to check the bundle with --manifest-sha256)")

    _guard(action)


@app.command()
def verify(
    bundle_zip: Annotated[Path, typer.Argument(metavar="EVIDENCE_ZIP", help="evidence.zip from `audit bundle`")],
    manifest_sha256: Annotated[str | None, Opt("--manifest-sha256", help="the manifest hash `audit bundle` "
                                               "printed; catches a rewritten manifest")] = None,
) -> None:
    """Check every file of an evidence bundle against its manifest: exit 0 intact, 1 altered, 2 not a bundle."""
    from audit.bundle import verify_bundle

    result = _guard(lambda: verify_bundle(bundle_zip, manifest_sha256))
    if result.ok:
        print(f"intact: {result.files} files match manifest.json (sha256 {result.manifest_sha256})")
        raise typer.Exit(0)
    for problem in result.problems:
        err.print(printable(f"altered: {problem}"), markup=False)
    raise typer.Exit(1)


@app.command("list")
def list_things() -> None:
    """Show the registered suites, bundled data sets and zoo models."""
    from audit.catalog import print_catalog

    _guard(lambda: print_catalog(Console(highlight=False)))


@app.command()
def train(
    name: Annotated[str, typer.Argument(help="zoo model name")],
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
) -> None:
    """Train (or re-train) a zoo model and cache it under $AUDIT_HOME."""
    from audit.catalog import train_zoo

    _guard(lambda: train_zoo(name, device, Console(highlight=False)))


def main() -> None:
    keep_freed_memory()
    try:
        app(prog_name="audit")
    except SystemExit as done:
        _exit_now(done.code)


def _exit_now(code: object) -> NoReturn:
    """End without the interpreter's teardown (about 0.9 s freeing torch, the data and every module after a run):
    by now every file is written and closed, the workers have exited and the Ray instance this run started is shut
    down, so only the console streams are left to flush."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`audit run … | head`) or a closed stream
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    sys.exit(main())
