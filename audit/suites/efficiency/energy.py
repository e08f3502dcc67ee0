"""Energy per 1,000 predictions of each variant, where the machine exposes a meter (audit.energy).

Without a readable meter the suite says "not measured" and gives no figure: an estimate is never shown as one.
"""

from __future__ import annotations

import torch

from audit.energy import EnergyMeter, NoMeter, find_meter, per_1000_predictions
from audit.suites.efficiency.measure import VariantResult, Workload
from audit.suites.efficiency.timing import batch_of
from audit.types import Measurement

PREFIX = "energy_per_1000_predictions_j"


def energy_figures(results: list[VariantResult], work: Workload,
                   meter: EnergyMeter | NoMeter | None = None) -> tuple[list[Measurement], list[str]]:
    """One measurement per variant at the reference batch size, or a note saying why none was measured."""
    meter = meter if meter is not None else find_meter(work.device)
    if isinstance(meter, NoMeter):
        return [], [f"Energy per 1,000 predictions: not measured — {meter.reason}. No estimate is given in its place."]
    batch = batch_of(work.x_test, work.reference_batch).to(work.device)
    sync = torch.cuda.synchronize if work.device.startswith("cuda") else (lambda: None)
    figures = []
    for result in results:
        module = result.variant.module
        if module is None:
            continue

        def predict(module: torch.nn.Module = module) -> None:
            with torch.no_grad():
                module(batch)
            sync()

        per_1000, use, rows = per_1000_predictions(meter, predict, len(batch))
        figures.append(Measurement(
            f"{PREFIX}[{result.variant.name}]", per_1000, higher_is_better=False, n=rows,
            description=f"Joules per 1,000 predictions of {result.variant.name}, read from {use.meter} over "
                        f"{rows:,} rows in batches of {len(batch)}.",
            details={"meter": use.meter, "joules": use.joules, "seconds": use.seconds, "rows": rows,
                     "batch": len(batch)},
        ))
    return figures, []
