"""`audit run --model DIR` on tiny Hugging Face text classifiers, end to end through the command line.

A model trained to decide by the pronoun (he/she) flips nearly every prediction when only that pair is swapped; a
control model that decides by the good/bad word flips none. Accuracy is checked against transformers itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from audit import cli
from audit.models.hf_testing import CLASSES, text_rows, tiny_folders

ROWS = 60
# Full preset, made small: few rows, one perturbation rate, one large attack radius, few resamples.
CONFIG = """
[suites.text-robustness]
n_rows = 60
typo_rates = [0.1]
drop_rates = [0.1]
embedding_eps = [0.5]
attack_steps = 5
resamples = 100
[suites.text-fairness]
resamples = 100
seat_permutations = 200
seat_resamples = 50
seat_tests = ["gender_career"]
term_pairs = ["film/book"]
[suites.text-explainability]
ig_rows = 8
resamples = 100
[suites.text-efficiency]
n_timing = 16
repeats = 1
single_calls = 2
resamples = 100
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf_audit")
    paths = dict(tiny_folders(Path(os.environ["AUDIT_HOME"]) / "tiny-hf"))
    for rule in ("gendered", "control"):
        frame = text_rows(ROWS, 21, rule).rename(columns={"text": "review"})
        frame["label"] = frame["label"].map({c: i for i, c in enumerate(CLASSES)})  # ids, not names
        frame.to_csv(root / f"{rule}.csv", index=False)
        paths[f"{rule}.csv"] = root / f"{rule}.csv"
    (root / "audit.toml").write_text(CONFIG)
    paths["config"] = root / "audit.toml"
    paths["root"] = root
    return paths


def _audit(ws: dict[str, Path], model: str, data: str, suite: str = "full", *extra: str) -> dict:
    out = ws["root"] / f"out-{model}-{data}-{suite}"
    args = ["run", "--model", str(ws[model]), "--data", str(ws[data]), "--text-column", "review", "--label", "label",
            "--sensitive", "gender", "--suite", suite, "--config", str(ws["config"]), "--device", "cpu",
            "--out", str(out), *extra]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code in (0, 1), result.output
    return json.loads((out / "scorecard.json").read_text())


def _measurements(card: dict, suite: str) -> dict[str, dict]:
    result = next(r for r in card["results"] if r["suite"] == suite)
    assert result["status"] == "ok", result.get("reason")
    return {m["name"]: m for m in result["measurements"]}


def _transformers_accuracy(model: torch.nn.Module, folder: Path, csv: Path) -> float:
    import pandas as pd
    from transformers import AutoTokenizer

    frame = pd.read_csv(csv)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    with torch.no_grad():
        logits = model(**tokenizer(list(frame["review"]), padding=True, return_tensors="pt")).logits
    return float(np.mean(logits.argmax(1).numpy() == frame["label"].to_numpy()))


@pytest.fixture(scope="module")
def gendered_card(workspace) -> dict:
    return _audit(workspace, "gendered", "gendered.csv")


@pytest.fixture(scope="module")
def lora_card(workspace) -> dict:
    return _audit(workspace, "lora", "gendered.csv")


def test_full_audit_accuracy_equals_transformers(workspace, gendered_card):
    from transformers import AutoModelForSequenceClassification

    reference = AutoModelForSequenceClassification.from_pretrained(str(workspace["gendered"]), local_files_only=True)
    expected = _transformers_accuracy(reference.eval(), workspace["gendered"], workspace["gendered.csv"])
    assert _measurements(gendered_card, "accuracy")["accuracy"]["value"] == pytest.approx(expected, abs=1e-12)
    assert gendered_card["config"]["used"]["model_kind"] == "hf"
    assert gendered_card["config"]["used"]["classes"] == list(CLASSES)


def test_gendered_model_flips_on_the_pronoun_pair(gendered_card):
    flips = _measurements(gendered_card, "text-fairness")
    assert flips["counterfactual_flip_rate[pair=he/she]"]["value"] >= 0.9
    assert flips["counterfactual_flip_rate[pair=he/she]"]["n"] == ROWS
    assert flips["counterfactual_flip_rate[pair=film/book]"]["value"] <= 0.1  # a user pair from the config
    assert {"counterfactual_flip_rate[gender_swap,gender=male]",
            "counterfactual_flip_rate[gender_swap,gender=female]"} <= set(flips)
    # named after the swapped words: this data has a "gender" column, no "sex" one
    assert flips["counterfactual_flip_rate[gendered terms]"]["value"] >= 0.9
    assert "counterfactual_flip_rate[sex]" not in flips
    assert "seat_effect_size[gender_career]" in flips


def test_control_model_shows_about_no_flips(workspace):
    card = _audit(workspace, "control", "control.csv", "text-fairness")
    flips = _measurements(card, "text-fairness")
    assert flips["counterfactual_flip_rate[pair=he/she]"]["value"] <= 0.05


def test_text_robustness_and_labelled_embedding_attack(gendered_card):
    out = _measurements(gendered_card, "text-robustness")
    assert {"accuracy[typos,rate=0.1]", "accuracy[word_drops,rate=0.1]"} <= set(out)
    attack = out["robust_accuracy[inputs-embeds-l2,eps=0.5]"]
    assert "inputs_embeds" in attack["details"]["space"]
    assert attack["value"] < out["noise_accuracy[inputs-embeds-l2,eps=0.5]"]["value"]  # the attack bites
    efficiency = _measurements(gendered_card, "text-efficiency")  # the whole classifier's variants
    assert {"throughput[fp32]", "size_bytes[int8]", "accuracy_drift[int8]",
            "dp_difference_drift[int8,gender]"} <= set(efficiency)


def test_token_attributions_complete_and_on_the_pronoun(gendered_card):
    out = _measurements(gendered_card, "text-explainability")
    result = next(r for r in gendered_card["results"] if r["suite"] == "text-explainability")
    assert all(v["passed"] for v in result["validity"]), result["validity"]  # integrated gradients add up
    assert out["ig_completeness_error"]["value"] <= 0.05
    assert out["token_attribution_share[gendered]"]["value"] >= 0.5  # the model decides by he/she


def test_lora_adapter_full_audit_records_both_hashes(workspace, lora_card):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(str(workspace["control"]), local_files_only=True)
    reference = PeftModel.from_pretrained(base, str(workspace["lora"])).eval()
    expected = _transformers_accuracy(reference, workspace["control"], workspace["gendered.csv"])
    assert _measurements(lora_card, "accuracy")["accuracy"]["value"] == pytest.approx(expected, abs=1e-12)
    read_as = lora_card["config"]["used"]["model_read_as"]
    assert read_as.count("sha256") == 2 and "adapter" in read_as
    assert lora_card["config"]["used"]["model_kind"] == "hf-peft"
    assert "counterfactual_flip_rate[pair=he/she]" in _measurements(lora_card, "text-fairness")
    assert _measurements(lora_card, "text-robustness")["robust_accuracy[inputs-embeds-l2,eps=0.5]"]["n"] == ROWS


@pytest.mark.parametrize("breakage, message", [
    ("bin-only", "pytorch_model.bin"),
    ("auto_map", "auto_map"),
])
def test_unsafe_folders_exit_2(workspace, tmp_path, breakage, message):
    import shutil

    folder = shutil.copytree(workspace["control"], tmp_path / "model")
    if breakage == "bin-only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")  # never read: refused before loading
    else:
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli.app, ["run", "--model", str(folder), "--data", str(workspace["control.csv"]),
                                          "--text-column", "review", "--label", "label", "--out",
                                          str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_mismatched_labels_exit_2_naming_both(workspace, tmp_path):
    import pandas as pd

    frame = pd.read_csv(workspace["control.csv"]).assign(label=lambda f: np.where(f["label"] == 1, "yes", "no"))
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = CliRunner().invoke(cli.app, ["run", "--model", str(workspace["control"]), "--data",
                                          str(tmp_path / "bad.csv"), "--text-column", "review", "--label", "label",
                                          "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "'no', 'yes'" in result.output and "'negative', 'positive'" in result.output


def test_term_pair_flip_rates_are_gated():
    from audit.config import AuditConfig

    threshold = AuditConfig().build_policy().match("text-fairness.counterfactual_flip_rate[pair=he/she]")
    assert threshold is not None and threshold.max == 0.05 and threshold.severity == "warn"


def test_integrated_gradients_exact_for_a_linear_head():
    from audit.suites.text._token_attributions import integrated_gradients

    torch.manual_seed(0)
    head, flat = torch.nn.Linear(6, 2), torch.randn(3, 6)
    attributions, change = integrated_gradients(head, flat, target=1, steps=4)
    assert torch.allclose(attributions, flat * head.weight[1].detach(), atol=1e-6)  # analytic: x * w
    assert torch.allclose(change, flat @ head.weight[1].detach(), atol=1e-6)
