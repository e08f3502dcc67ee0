"""`audit list` and `audit train`: what is registered, bundled and in the zoo."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit import registry
from audit.config import did_you_mean
from audit.errors import AuditInputError


def print_catalog(console: Console) -> None:
    from audit.data.registry import REFERENCE_DATASETS
    from audit.models.zoo import ZOO_MODELS

    suites = Table(title="suites (entry-point group audit.suites)")
    for col in ("name", "pillar", "requires", "description"):
        suites.add_column(col)
    for name, entry in registry.available().items():
        try:
            suite = entry.load()
            row = (suite.pillar, ", ".join(sorted(suite.requires)) or "-", suite.description)
        except Exception as exc:  # a broken plug-in is listed, not fatal
            row = ("?", "?", f"could not load: {exc}")
        suites.add_row(*(Text(str(v)) for v in (name, *row)))
    console.print(suites)
    console.print(_two_columns("bundled data sets", REFERENCE_DATASETS))
    console.print(_two_columns("zoo models (default: adult-mlp)", ZOO_MODELS))


def _two_columns(title: str, items: dict[str, str]) -> Table:
    table = Table(title=title)
    table.add_column("name")
    table.add_column("description")
    for name, text in items.items():
        table.add_row(Text(name), Text(text))
    return table


def train_zoo(name: str, device: str, console: Console) -> None:
    import time

    from audit.models import zoo
    from audit.runner import audit_home

    if name not in zoo.ZOO_MODELS:
        raise AuditInputError(f"unknown zoo model {name!r}{did_you_mean(name, sorted(zoo.ZOO_MODELS))}")
    start = time.perf_counter()
    path = zoo.train_zoo_model(name, device=device, home=audit_home())
    console.print(f"trained {name} in {time.perf_counter() - start:.1f} s -> {path}", markup=False)
