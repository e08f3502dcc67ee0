"""Executors: waves follow declared reads; bad settings are input errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from audit.errors import AuditInputError
from audit.executors import dependency_waves, make_executor


@dataclass(frozen=True)
class Item:
    name: str


def test_waves_wait_for_the_suites_they_read() -> None:
    items = [Item("accuracy"), Item("fairness"), Item("explainability"), Item("efficiency")]
    reads = {"explainability": frozenset({"fairness"}), "efficiency": frozenset({"accuracy", "not-planned"})}
    waves = [[i.name for i in wave] for wave in dependency_waves(items, reads)]
    assert waves == [["accuracy", "fairness"], ["explainability", "efficiency"]]


def test_a_read_outside_the_run_does_not_block() -> None:
    assert [[i.name for i in w] for w in dependency_waves([Item("a")], {"a": frozenset({"gone"})})] == [["a"]]


@pytest.mark.parametrize(("name", "address", "message"), [
    ("dask", None, "--executor must be one of local, ray"),
    ("local", "10.0.0.1:6379", "--ray-address needs --executor ray"),
    ("ray", "no-port", "--ray-address must be auto or HOST:PORT"),
])
def test_bad_executor_settings_are_input_errors(name: str, address: str | None, message: str) -> None:
    pytest.importorskip("ray")
    with pytest.raises(AuditInputError, match=message):
        make_executor(name, address)
