"""text-efficiency on tiny Hugging Face classifiers (a 2-layer BERT and a LoRA adapter on it): each variant's drift
of accuracy and of the parity / equalized-odds gaps is re-derived with transformers (the model called directly on the
tokenizer's batches), scikit-learn and fairlearn on the same rows, and the paired CIs with a plain loop over the same
bootstrap draws.

The classifier is left untrained and its head re-centred so that its logits sit at the decision boundary: int8 and
bf16 then change many predictions, and a wrong drift could not pass as zero."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audit.models.hf_testing import text_rows, tiny_classifier_folder, tiny_lora_folder
from audit.suite import SuiteContext
from audit.suites.text._variants import precision_unsupported
from audit.suites.text.efficiency import TextEfficiencySuite

ROWS, BATCH, RESAMPLES = 240, 64, 200


def _logits(model: torch.nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:  # noqa: ANN001
    with torch.no_grad():
        return torch.cat([model(**tokenizer(texts[i : i + BATCH], padding=True, return_tensors="pt")).logits.float()
                          for i in range(0, len(texts), BATCH)])


def _centre_head(folder: Path, texts: list[str]) -> None:
    """Scale the random head up and shift its bias so the logit difference's median is 0 (half the rows either way)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(1000.0)
        diff = _logits(model, AutoTokenizer.from_pretrained(str(folder)), texts).diff(dim=1).squeeze(1)
        model.classifier.bias[1] -= float(diff.median())
    model.save_pretrained(str(folder), safe_serialization=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf_efficiency")
    frame = text_rows(ROWS, 5, "control")  # labels independent of gender: both groups hold both labels
    frame.to_csv(root / "rows.csv", index=False)
    tiny_classifier_folder(root / "base", "control", seed=3, steps=0)
    _centre_head(root / "base", list(frame["text"]))
    tiny_lora_folder(root / "lora", root / "base", "control", seed=3, steps=0)
    return {"root": root, "base": root / "base", "lora": root / "lora", "csv": root / "rows.csv"}


def _context(ws: dict[str, Path], name: str) -> SuiteContext:
    from audit.data.text import TextColumns, load_text_data
    from audit.models import hf

    loaded = hf.load_hf_folder(ws[name])
    inputs = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    data = load_text_data(ws["csv"], TextColumns("text", "label", ("gender",)), loaded.class_names, inputs)
    model = hf.hf_model(loaded, inputs, name, str(ws[name]), "cpu")
    return SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=ws["root"])


def _reference_models(ws: dict[str, Path], name: str) -> dict[str, torch.nn.Module]:
    """fp32 as transformers (and peft) load it, and each variant made from it by hand."""
    from peft import PeftModel
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers import AutoModelForSequenceClassification

    fp32 = AutoModelForSequenceClassification.from_pretrained(str(ws["base"]), local_files_only=True).eval()
    if name == "lora":
        fp32 = PeftModel.from_pretrained(fp32, str(ws["lora"])).eval()
    merged = copy.deepcopy(fp32).merge_and_unload() if name == "lora" else fp32
    with warnings.catch_warnings():  # torch.ao's deprecation notice
        warnings.simplefilter("ignore", DeprecationWarning)
        int8 = quantize_dynamic(copy.deepcopy(merged), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8)
    out = {"fp32": fp32, "int8": int8, "bf16": copy.deepcopy(merged).to(torch.bfloat16)}
    if name == "lora":
        out["lora-merged"] = merged
    return out


def _dp(pred: np.ndarray, groups: np.ndarray) -> float:
    rates = [pred[groups == g].mean() for g in np.unique(groups)]
    return max(rates) - min(rates)


@pytest.mark.parametrize("name", ["base", "lora"])
def test_variant_drift_matches_transformers_and_fairlearn(workspace, name):
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
    from sklearn.metrics import accuracy_score
    from transformers import AutoTokenizer

    from audit.stats import bootstrap_indices, percentile_ci

    ctx = _context(workspace, name)
    suite = TextEfficiencySuite()
    params = dataclasses.replace(suite.params_for("quick"), n_rows=ROWS, n_timing=32, single_calls=2,
                                 resamples=RESAMPLES, batch_size=BATCH)
    out = suite.run(ctx, params)
    m = {x.name: x for x in out.measurements}
    frame = pd.read_csv(workspace["csv"])
    texts, y = list(frame["text"]), (frame["label"] == "positive").to_numpy().astype(int)
    gender = frame["gender"].to_numpy()
    tokenizer = AutoTokenizer.from_pretrained(str(workspace["base"]))
    models = _reference_models(workspace, name)
    preds = {k: _logits(v, tokenizer, texts).argmax(dim=1).numpy() for k, v in models.items()}
    kinds = [k for k in preds if k != "fp32" and precision_unsupported(k, "cpu") is None]
    assert kinds and any(np.any(preds[k] != preds["fp32"]) for k in kinds)  # the drift is not trivially zero
    draws = bootstrap_indices(ROWS, RESAMPLES, 0)
    for kind in kinds:
        p, base = preds[kind], preds["fp32"]
        assert m[f"accuracy_drift[{kind}]"].value == pytest.approx(accuracy_score(y, p) - accuracy_score(y, base))
        assert m[f"prediction_agreement[{kind}]"].value == pytest.approx(np.mean(p == base))
        dp = m[f"dp_difference_drift[{kind},gender]"]
        assert dp.value == pytest.approx(demographic_parity_difference(y, p, sensitive_features=gender)
                                         - demographic_parity_difference(y, base, sensitive_features=gender))
        assert m[f"equalized_odds_difference_drift[{kind},gender]"].value == pytest.approx(
            equalized_odds_difference(y, p, sensitive_features=gender)
            - equalized_odds_difference(y, base, sensitive_features=gender))
        paired = [np.mean(p[i] == y[i]) - np.mean(base[i] == y[i]) for i in draws]  # same rows for both models
        assert m[f"accuracy_drift[{kind}]"].ci == pytest.approx(percentile_ci(np.array(paired)))
        gaps = [_dp(p[i], gender[i]) - _dp(base[i], gender[i]) for i in draws]
        assert dp.ci == pytest.approx(percentile_ci(np.array(gaps)))
        assert m[f"size_bytes[{kind}]"].value < m["size_bytes[fp32]"].value or kind == "lora-merged"
        assert m[f"throughput[{kind}]"].value > 0 and m[f"peak_memory_bytes[{kind}]"].value > 0
    if name == "base":
        assert any("lora-merged was not measured: no LoRA adapter" in n for n in out.notes)
    else:  # merging only reorders float sums: the predictions stay put, the adapter's extra weights go
        assert m["prediction_agreement[lora-merged]"].value == 1.0
        assert m["size_bytes[lora-merged]"].value < m["size_bytes[fp32]"].value
    assert m["throughput[fp32]"].details["tokens_max"] <= ctx.model.encoder.length


def test_unsupported_precision_is_skipped_with_the_reason(workspace, monkeypatch):
    from audit.suites.text import _variants

    monkeypatch.setattr(_variants, "cpu_has_native", lambda kind: False)
    assert "no native bf16 instructions" in _variants.precision_unsupported("bf16", "cpu")
    ctx = _context(workspace, "base")
    suite = TextEfficiencySuite()
    params = dataclasses.replace(suite.params_for("quick"), variants=("bf16",), n_rows=40, n_timing=8, single_calls=1,
                                 resamples=20)
    out = suite.run(ctx, params)
    assert not [x for x in out.measurements if "bf16" in x.name]
    assert any(n.startswith("bf16 was not measured: this CPU has no native bf16") for n in out.notes)
