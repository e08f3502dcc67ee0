"""Hugging Face text classifier benchmarks (issue 12), on the tiny 2-layer BERT of `audit.models.hf_testing`.

- the full text audit (`audit run --suite full`) of the tiny BERT saved with save_pretrained, on 2,000 text rows
  (its 2,000 training rows passed with --train-data, so privacy and the data suite's train/audit parts run);
- the embedding-space (inputs_embeds) L2 PGD attack of the text robustness suite against ART's
  ProjectedGradientDescent on the same embeddings: same per-row ε (ε x the row's embedding norm), L2 norm, steps,
  step size 2.5 ε / steps, no random start; ART wraps the same embedding -> logits view in a PyTorchClassifier.

`extra_info` records wall time, CPU time (user + system; the honest figure on a shared, loaded machine), the
per-suite durations of the audit, and both attacks' robust accuracies and times.

    pytest benchmarks/bench_hf_text.py --benchmark-only
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

ROWS = 2_000
# The text robustness suite's full preset, then radii large enough that the attack bites on the tiny model.
EPS_GRID = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
STEPS = 20
ATTACK_ROWS = 1_000  # the text robustness suite's full preset attacks this many rows
CHUNK = 64  # texts per inputs_embeds view (the suite's batch size)


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    from audit.models.hf_testing import text_rows, tiny_classifier_folder, training_rows

    root = tmp_path_factory.mktemp("hf_text_bench")
    model = tiny_classifier_folder(root / "bert", "control", seed=0, steps=150, n_train=ROWS, varied=True)
    training_rows(ROWS, 0, "control", varied=True).to_csv(root / "train.csv", index=False)
    text_rows(ROWS, 99, "control", varied=True).to_csv(root / "audit.csv", index=False)
    return {"model": model, "train": root / "train.csv", "audit": root / "audit.csv", "root": root}


def test_full_text_audit_of_tiny_bert(benchmark, workspace) -> None:
    out = workspace["root"] / "run"
    cpu_before, wall_before = _cpu_s(resource.RUSAGE_CHILDREN), time.perf_counter()

    def run() -> int:
        cmd = [sys.executable, "-m", "audit", "run", "--model", str(workspace["model"]), "--data",
               str(workspace["audit"]), "--train-data", str(workspace["train"]), "--text-column", "text", "--label",
               "label", "--sensitive", "gender", "--suite", "full", "--device", "cpu", "--out", str(out)]
        return subprocess.run(cmd, capture_output=True).returncode

    code = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    wall, cpu = time.perf_counter() - wall_before, _cpu_s(resource.RUSAGE_CHILDREN) - cpu_before
    assert code in (0, 1), f"audit run exited {code}"
    card = json.loads((out / "scorecard.json").read_text())
    robustness = {m["name"]: m["value"] for r in card["results"] if r["suite"] == "text-robustness"
                  for m in r["measurements"] if m["name"].startswith(("robust_accuracy", "noise_accuracy"))}
    benchmark.extra_info.update({
        "rows": ROWS, "wall_s": round(wall, 1), "child_cpu_s": round(cpu, 1),
        "suite_s": {r["suite"]: r["duration_s"] for r in card["results"]},
        "suite_status": {r["suite"]: r["status"] for r in card["results"]},
        "text_robustness": robustness,
    })


def _attack_rows(workspace: dict[str, Path]):  # noqa: ANN202 - (module, x, y)
    import pandas as pd

    from audit.models import hf

    loaded = hf.load_hf_folder(workspace["model"])
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    frame = pd.read_csv(workspace["audit"]).iloc[:ATTACK_ROWS]
    module = hf.HFSequenceClassifier(loaded.model).eval()
    y = torch.as_tensor((frame["label"] == loaded.class_names[1]).to_numpy().astype(np.int64))
    return module, encoder.texts_to_inputs(list(frame["text"])), y


def test_inputs_embeds_attack_against_art_pgd(benchmark, workspace) -> None:
    from audit.models.hf_testing import art_inputs_embeds_pgd, suite_inputs_embeds_pgd

    module, x, y = _attack_rows(workspace)
    figures: dict[str, dict[str, float]] = {}

    def run_both() -> None:
        for eps in EPS_GRID:
            for name, attack in (("ours", suite_inputs_embeds_pgd), ("art", art_inputs_embeds_pgd)):
                cpu, wall = _cpu_s(resource.RUSAGE_SELF), time.perf_counter()
                correct = attack(module, x, y, eps, STEPS, CHUNK)
                figures.setdefault(f"eps={eps:g}", {})[name] = round(float(correct.float().mean()), 4)
                figures[f"eps={eps:g}"][f"{name}_wall_s"] = round(time.perf_counter() - wall, 2)
                figures[f"eps={eps:g}"][f"{name}_cpu_s"] = round(_cpu_s(resource.RUSAGE_SELF) - cpu, 2)

    benchmark.pedantic(run_both, rounds=1, iterations=1, warmup_rounds=0)
    with torch.no_grad():
        clean = float((module(x).argmax(1) == y).float().mean())
    benchmark.extra_info.update({"rows": len(y), "steps": STEPS, "clean_accuracy": round(clean, 4),
                                 "chunk": CHUNK, "robust_accuracy": figures})
    for eps, f in figures.items():
        assert abs(f["ours"] - f["art"]) <= 0.01, f"{eps}: ours {f['ours']} vs ART {f['art']}"
