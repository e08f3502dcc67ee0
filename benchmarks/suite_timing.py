"""One suite run once under pytest-benchmark, with its budget, wall and process CPU seconds in extra_info."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import Any

from audit.suite import SuiteContext


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_suite(benchmark: Any, suite: Any, model: Any, data: Any, preset: str, target_s: float) -> dict[str, float]:
    """Run `suite` at `preset` once; record target, wall and CPU seconds; return its figures by name."""
    ctx = SuiteContext(model=model, data=data, seed=0, preset=preset, cache_dir=Path(tempfile.mkdtemp()))
    cpu_before = process_cpu_s()
    output = benchmark.pedantic(suite.run, args=(ctx, suite.params_for(preset)), rounds=1, iterations=1)
    benchmark.extra_info.update({"target_s": target_s, "wall_s": round(benchmark.stats.stats.max, 2),
                                 "cpu_s": round(process_cpu_s() - cpu_before, 2)})
    return {m.name: m.value for m in output.measurements}
