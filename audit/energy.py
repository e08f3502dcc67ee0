"""Energy read from a hardware meter: NVML on an NVIDIA GPU, RAPL counters on a CPU where readable.

Only a counter the hardware keeps is a measurement. Where no meter is readable the figure is "not measured" and
nothing is estimated in its place (NIST AI RMF MEASURE 2.12 is cited only when a figure was measured). The meter is
an interface so a test can inject one; `find_meter` picks the real one for a device.

RAPL (Linux powercap) counts the energy of a whole CPU package, so on a machine shared with other work the figure
includes that work: the scorecard says which meter and scope it read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

POWERCAP = Path("/sys/class/powercap")
MIN_SECONDS = 0.5  # a meter updates every ~1 ms (RAPL) to ~100 ms (NVML): measure over at least this long


class EnergyMeter(Protocol):
    @property
    def description(self) -> str: ...  # which meter and what it covers, for the scorecard

    def joules(self) -> float: ...  # a monotone counter (differences are what count)


@dataclass(frozen=True)
class NoMeter:
    reason: str  # why nothing was measured, in words


@dataclass(frozen=True)
class RaplMeter:
    """Sum of the top-level RAPL package zones (intel-rapl:N; their subzones are parts of them, not added)."""

    zones: tuple[Path, ...]

    @property
    def description(self) -> str:
        return f"RAPL {', '.join(z.name for z in self.zones)} (whole CPU package, shared with other work)"

    def joules(self) -> float:
        return sum(int((z / "energy_uj").read_text()) for z in self.zones) / 1e6

    def ranges(self) -> float:
        return sum(int((z / "max_energy_range_uj").read_text()) for z in self.zones) / 1e6


@dataclass(frozen=True)
class NvmlMeter:
    index: int
    name: str

    @property
    def description(self) -> str:
        return f"NVML total energy of GPU {self.index} ({self.name})"

    def joules(self) -> float:
        import pynvml

        handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        return pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3  # millijoules since the driver loaded


def rapl_meter(root: Path = POWERCAP) -> RaplMeter | NoMeter:
    zones = tuple(sorted(z for z in root.glob("intel-rapl:*") if z.name.count(":") == 1))
    if not zones:
        return NoMeter(f"no RAPL counters ({root} has no intel-rapl zones)")
    try:
        RaplMeter(zones).joules()
    except (OSError, ValueError) as exc:
        return NoMeter(f"RAPL counters are not readable ({type(exc).__name__}: {exc}; reading energy_uj usually "
                       "needs root)")
    return RaplMeter(zones)


def nvml_meter(device: str) -> NvmlMeter | NoMeter:
    try:
        import pynvml
    except ImportError:
        return NoMeter("NVML is not installed (pip install 'audit[energy]')")
    try:
        import torch

        index = torch.device(device).index or 0
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        name = pynvml.nvmlDeviceGetName(handle)
    except Exception as exc:  # noqa: BLE001 - NVMLError and driver faults: the meter is not readable
        return NoMeter(f"the GPU's NVML energy counter is not readable ({type(exc).__name__}: {exc})")
    return NvmlMeter(index, name.decode() if isinstance(name, bytes) else str(name))


def find_meter(device: str) -> EnergyMeter | NoMeter:
    """NVML for a CUDA device, RAPL for the CPU."""
    return nvml_meter(device) if device.startswith("cuda") else rapl_meter()


@dataclass(frozen=True)
class EnergyUse:
    joules: float
    seconds: float
    meter: str


def measure_energy(meter: EnergyMeter, work: Callable[[], object]) -> EnergyUse:
    """Joules the meter counted while `work` ran (a RAPL counter that wrapped once is unwrapped)."""
    before, started = meter.joules(), time.perf_counter()
    work()
    after, seconds = meter.joules(), time.perf_counter() - started
    used = after - before
    if used < 0 and isinstance(meter, RaplMeter):
        used += meter.ranges()
    return EnergyUse(max(used, 0.0), seconds, meter.description)


def per_1000_predictions(meter: EnergyMeter, predict_batch: Callable[[], object], rows_per_batch: int,
                         min_seconds: float = MIN_SECONDS) -> tuple[float, EnergyUse, int]:
    """Joules per 1,000 predictions: batches repeated for at least `min_seconds` so the meter sees the work.
    Returns (J per 1,000, the reading, rows predicted)."""
    calls = [0]

    def work() -> None:
        started = time.perf_counter()
        while calls[0] == 0 or time.perf_counter() - started < min_seconds:
            predict_batch()
            calls[0] += 1

    use = measure_energy(meter, work)
    rows = calls[0] * rows_per_batch
    return use.joules / rows * 1000.0, use, rows


@dataclass(frozen=True)
class RunEnergy:
    """The energy of the audit itself: the meter's count from the start of the run to each scorecard write."""

    meter: EnergyMeter | NoMeter
    start_joules: float
    started: float

    @classmethod
    def start(cls, device: str, meter: EnergyMeter | NoMeter | None = None) -> RunEnergy:
        meter = meter if meter is not None else find_meter(device)
        start = meter.joules() if not isinstance(meter, NoMeter) else 0.0
        return cls(meter, start, time.perf_counter())

    def so_far(self) -> dict[str, object]:
        if isinstance(self.meter, NoMeter):
            return {"measured": False, "reason": self.meter.reason}
        used = self.meter.joules() - self.start_joules
        if used < 0 and isinstance(self.meter, RaplMeter):
            used += self.meter.ranges()
        return {"measured": True, "joules": round(max(used, 0.0), 3),
                "seconds": round(time.perf_counter() - self.started, 3),
                "meter": f"{self.meter.description}; this process's part of the run, on this machine only"}
