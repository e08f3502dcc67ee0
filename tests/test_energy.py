"""Energy: read from a meter (injected here), "not measured" where none is readable, MEASURE 2.12 only when measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from audit import gating
from audit.energy import NoMeter, RaplMeter, RunEnergy, find_meter, per_1000_predictions, rapl_meter
from audit.suites.efficiency.energy import energy_figures
from audit.types import Measurement, SuiteResult, SuiteStatus


@dataclass
class CountingMeter:
    """A counter that rises by `joules_per_call` each time the work calls `tick`."""

    joules_per_call: float
    count: float = 0.0
    description: str = "fake meter"

    def tick(self) -> None:
        self.count += self.joules_per_call

    def joules(self) -> float:
        return self.count


def test_energy_per_1000_predictions_is_the_meter_count_over_rows() -> None:
    meter = CountingMeter(0.5)
    per_1000, use, rows = per_1000_predictions(meter, meter.tick, rows_per_batch=100, min_seconds=0.01)
    calls = rows // 100
    assert calls >= 1 and use.joules == pytest.approx(0.5 * calls)
    assert per_1000 == pytest.approx(5.0)  # 0.5 J per 100 rows


def _results_and_work(rows: int = 40) -> tuple[list, SimpleNamespace]:
    module = torch.nn.Linear(3, 2)
    results = [SimpleNamespace(variant=SimpleNamespace(name=n, module=module)) for n in ("fp32", "int8")]
    work = SimpleNamespace(x_test=torch.zeros(rows, 3), reference_batch=16, device="cpu")
    return results, work


def test_efficiency_figures_come_from_the_injected_meter() -> None:
    results, work = _results_and_work()
    meter = CountingMeter(0.0)
    module = results[0].variant.module
    module.register_forward_hook(lambda *_: meter.tick())
    meter.joules_per_call = 0.032  # 32 mJ per batch of 16 rows: 2 J per 1,000 predictions
    figures, notes = energy_figures(results, work, meter)  # type: ignore[arg-type]
    assert notes == []
    assert [f.name for f in figures] == ["energy_per_1000_predictions_j[fp32]", "energy_per_1000_predictions_j[int8]"]
    assert all(f.value == pytest.approx(2.0) and f.higher_is_better is False for f in figures)
    assert figures[0].details["meter"] == "fake meter" and figures[0].n % 16 == 0


def test_no_readable_meter_is_said_and_nothing_estimated() -> None:
    results, work = _results_and_work()
    figures, notes = energy_figures(results, work, NoMeter("no RAPL counters"))  # type: ignore[arg-type]
    assert figures == [] and "not measured — no RAPL counters" in notes[0] and "No estimate" in notes[0]


def test_this_machine_without_a_meter_reports_not_measured() -> None:
    meter = find_meter("cpu")
    if not isinstance(meter, NoMeter):
        pytest.skip(f"this machine exposes a readable meter: {meter.description}")
    energy = RunEnergy.start("cpu").so_far()
    assert energy["measured"] is False and energy["reason"] == meter.reason


def _zone(root: Path, name: str, uj: int | None, max_uj: int = 1000_000_000) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    if uj is not None:
        (zone / "energy_uj").write_text(f"{uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def test_rapl_sums_package_zones_and_not_their_subzones(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", 2_000_000)
    _zone(tmp_path, "intel-rapl:1", 1_500_000)
    _zone(tmp_path, "intel-rapl:0:0", 9_000_000)  # the cores of package 0: part of it, not added again
    meter = rapl_meter(tmp_path)
    assert isinstance(meter, RaplMeter) and meter.joules() == pytest.approx(3.5)


def test_rapl_without_zones_or_unreadable_counters_is_no_meter(tmp_path: Path) -> None:
    assert "no RAPL counters" in rapl_meter(tmp_path / "none").reason  # type: ignore[union-attr]
    _zone(tmp_path, "intel-rapl:0", None)
    found = rapl_meter(tmp_path)
    assert isinstance(found, NoMeter) and "not readable" in found.reason


def test_run_energy_with_a_meter_counts_from_the_start(tmp_path: Path) -> None:
    meter = CountingMeter(1.25, count=100.0)
    energy = RunEnergy.start("cpu", meter)  # type: ignore[arg-type]
    meter.tick()
    meter.tick()
    so_far = energy.so_far()
    assert so_far["measured"] is True and so_far["joules"] == pytest.approx(2.5)
    assert "fake meter" in str(so_far["meter"])


def _efficiency(measured: bool) -> SuiteResult:
    name = "energy_per_1000_predictions_j[fp32]" if measured else "throughput_rows_per_s[fp32,batch=1]"
    return SuiteResult("efficiency", "efficiency", SuiteStatus.OK, measurements=(Measurement(name, 1.0),))


@pytest.mark.parametrize("measured", [True, False])
def test_measure_2_12_is_cited_only_when_energy_was_measured(measured: bool) -> None:
    summary = {p.pillar: p for p in gating.pillar_summaries([_efficiency(measured)], [])}["efficiency"]
    assert ("MEASURE 2.12" in summary.nist_ai_rmf) is measured
    assert "MEASURE 2.3" in summary.nist_ai_rmf
