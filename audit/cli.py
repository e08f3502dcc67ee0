"""Command line: run | report | list | train. Parsing only; the work happens in audit.session & co."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

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
        err.print(f"audit: error: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("audit: interrupted; suites that finished are in scorecard.json", markup=False)
        raise typer.Exit(130) from None
    except Exception:
        err.print("audit: internal error (please report it):", markup=False)
        err.print(traceback.format_exc(), markup=False)
        raise typer.Exit(EXIT_INTERNAL) from None


Opt = typer.Option


@app.command()
def run(
    suite: Annotated[str | None, Opt(help="full | quick | comma list of suites")] = None,
    model: Annotated[str | None, Opt(help="zoo model name or model file (.pt2, .safetensors, .pt)")] = None,
    data: Annotated[str | None, Opt(help="CSV or Parquet file of rows to audit on")] = None,
    label: Annotated[str | None, Opt(help="label column of --data")] = None,
    sensitive: Annotated[str | None, Opt(help="sensitive attribute column(s), comma separated")] = None,
    features: Annotated[str | None, Opt(help="feature columns (default: all but label)")] = None,
    train_data: Annotated[str | None, Opt("--train-data", help="the model's training rows (for privacy)")] = None,
    missing_group: Annotated[bool | None, Opt("--missing-group", help="NaN sensitive values form a group")] = None,
    arch: Annotated[str | None, Opt(help="module:Class for safetensors/state-dict weights")] = None,
    arch_kwargs: Annotated[str | None, Opt("--arch-kwargs", help="JSON keyword arguments for --arch")] = None,
    allow_unsafe_load: Annotated[bool | None, Opt("--allow-unsafe-load", help="allow TorchScript (runs code)")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda")] = None,
    seed: Annotated[int | None, Opt(help="seed for everything")] = None,
    config: Annotated[Path | None, Opt(help="TOML config file")] = None,
    out: Annotated[str | None, Opt(help="output folder (default reports/<model>-<time>)")] = None,
    gate_on: Annotated[str | None, Opt("--gate-on", help="value | ci")] = None,
) -> None:
    """Run suites on a model and write scorecard.json, .md, .html and junit.xml."""
    from audit.config import load_config

    cli_values = dict(suite=suite, model=model, data=data, label=label, sensitive=sensitive, features=features,
                      train_data=train_data, missing_group=missing_group, arch=arch, arch_kwargs=arch_kwargs,
                      allow_unsafe_load=allow_unsafe_load, device=device, seed=seed, out=out, gate_on=gate_on)
    cfg = _guard(lambda: load_config(cli_values, config))
    raise typer.Exit(_guard(lambda: _run(cfg)))


def _run(cfg: Any) -> int:
    from audit.console import RichProgress, failing_checks, summary_table
    from audit.session import execute

    console = Console(highlight=False)
    with RichProgress(console) as progress:
        outcome = execute(cfg, progress)
    console.print(summary_table(outcome.scorecard))
    bad = failing_checks(outcome.scorecard)
    if bad is not None:
        console.print(bad)
    for fmt, path in outcome.files.items():
        console.print(f"{fmt:>5}: {path}", markup=False)
    console.print(f"exit code {outcome.scorecard.exit_code}", markup=False)
    return outcome.scorecard.exit_code


@app.command()
def report(
    scorecard: Annotated[Path, typer.Argument(help="scorecard.json from an earlier run")],
    format: Annotated[str, Opt("--format", help="html | md | junit | json")] = "html",
    out: Annotated[Path | None, Opt(help="file to write (default: beside the scorecard)")] = None,
) -> None:
    """Re-render a scorecard without recomputing anything."""
    from audit.reports import FILE_NAMES, FORMATS, load_scorecard, render
    from audit.reports.json_io import atomic_write_text

    def action() -> None:
        if format not in FORMATS:
            raise AuditInputError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
        card = load_scorecard(scorecard)
        target = out or scorecard.with_name(FILE_NAMES[format])
        atomic_write_text(target, render(card, format))
        print(target)

    _guard(action)


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
    app(prog_name="audit")


if __name__ == "__main__":
    sys.exit(main())
