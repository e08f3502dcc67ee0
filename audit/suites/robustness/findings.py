"""A small accumulator for what one run of the suite found (internal; frozen into a SuiteOutput at the end)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.suite import SuiteOutput
from audit.types import Chart, Measurement, Table, ValidityCheck


@dataclass
class Findings:
    measurements: list[Measurement] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    validity: list[ValidityCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_outcomes: dict[str, np.ndarray] = field(default_factory=dict)  # per-row evidence (robustness.evidence)

    def output(self) -> SuiteOutput:
        return SuiteOutput(tuple(self.measurements), tuple(self.tables), tuple(self.charts),
                           tuple(self.validity), tuple(self.notes))
