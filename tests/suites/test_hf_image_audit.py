"""`audit run --model DIR` on a tiny Hugging Face image classifier (ViT), end to end through the command line.

The ViT learns the colour of a square (the class is visible); its images are PNG files named by a CSV. Accuracy is
checked against transformers' own image processor and model on the same files; the HTML must show the picture grids.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from audit import cli
from audit.models.hf_image_testing import (
    CLASSES,
    tiny_vit_folder,
    tiny_vit_lora_folder,
    write_image_csv,
    write_image_folder,
)

ROWS = 64
SUITES = "accuracy,fairness,robustness,explainability,privacy,efficiency"
# Small settings: few rows, one ε per norm, few steps and resamples.
CONFIG = """
[suites.robustness]
n_rows = 32
eps_linf = [0.03]
eps_l2 = [1.0]
pgd_steps = 5
apgd_steps = 5
n_blackbox = 8
blackbox_queries = 20
n_deepfool = 8
deepfool_steps = 10
n_image_examples = 3
[suites.explainability]
n_explain = 12
n_background = 8
nsamples = 8
permutation_rows = 32
permutation_repeats = 1
n_local = 2
bootstrap_resamples = 100
patches_per_side = 4
[suites.privacy]
max_per_side = 64
shadow_models = 0
bootstrap_resamples = 100
label_only_queries = 4
[suites.fairness]
resamples = 100
[suites.efficiency]
variants = ["fp32", "int8"]
batch_sizes = [16]
reference_batch = 16
attack_rows = 32
bootstrap_resamples = 100
min_repeats = 2
max_repeats = 3
warmup = 1
timing_budget_s = 1.0
attack_steps = 3
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    home = Path(os.environ["AUDIT_HOME"]) / "tiny-hf-image"
    vit = home / "vit"
    if not (vit / "model.safetensors").is_file():
        tiny_vit_folder(vit)
    root = tmp_path_factory.mktemp("hf_image")
    paths = {"vit": vit, "root": root, "images.csv": _mislabel_every_fourth(write_image_csv(root, ROWS, 5)),
             "train.csv": write_image_csv(root, 256, 1, "train.csv"),  # the training images: members
             "folder": write_image_folder(root / "folder", 24, 6)}
    (root / "audit.toml").write_text(CONFIG)
    paths["config"] = root / "audit.toml"
    return paths


def _mislabel_every_fourth(csv: Path) -> Path:
    """Every fourth row labelled with the next class, so the model errs on some rows however well it trained (the
    tiny ViT can learn the squares perfectly): equal accuracy with transformers is then a real check."""
    frame = pd.read_csv(csv)
    wrong = frame.index % 4 == 0
    frame.loc[wrong, "label"] = [CLASSES[(CLASSES.index(c) + 1) % len(CLASSES)] for c in frame.loc[wrong, "label"]]
    frame.to_csv(csv, index=False)
    return csv


def _run(ws: dict[str, Path], model: Path, data: Path, suite: str, *extra: str, name: str = "out"):
    out = ws["root"] / name
    args = ["run", "--model", str(model), "--data", str(data), "--suite", suite, "--config", str(ws["config"]),
            "--device", "cpu", "--out", str(out), *extra]
    return CliRunner().invoke(cli.app, args), out


def _audit(ws: dict[str, Path], model: Path, data: Path, suite: str, *extra: str, name: str = "out") -> dict:
    result, out = _run(ws, model, data, suite, *extra, name=name)
    assert result.exit_code in (0, 1), result.output
    return json.loads((out / "scorecard.json").read_text())


def _result(card: dict, suite: str) -> dict:
    result = next(r for r in card["results"] if r["suite"] == suite)
    assert result["status"] == "ok", result.get("reason")
    return result


def _measurements(card: dict, suite: str) -> dict[str, dict]:
    return {m["name"]: m for m in _result(card, suite)["measurements"]}


def _transformers_accuracy(model: torch.nn.Module, processor_dir: Path, files: list[Path], labels: list[str]) -> float:
    from PIL import Image
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(str(processor_dir), local_files_only=True)
    images = [Image.open(f).convert("RGB") for f in files]
    with torch.no_grad():
        predicted = model(**processor(images=images, return_tensors="pt")).logits.argmax(1).numpy()
    return float(np.mean(np.array(CLASSES)[predicted] == np.array(labels)))


def _csv_accuracy(model: torch.nn.Module, ws: dict[str, Path]) -> float:
    frame = pd.read_csv(ws["images.csv"])
    return _transformers_accuracy(model, ws["vit"], [ws["root"] / p for p in frame["path"]], list(frame["label"]))


@pytest.fixture(scope="module")
def card(workspace) -> dict:
    return _audit(workspace, workspace["vit"], workspace["images.csv"], SUITES, "--image-column", "path", "--label",
                  "label", "--sensitive", "site", "--train-data", str(workspace["train.csv"]), name="full")


def test_accuracy_equals_transformers(workspace, card):
    from transformers import AutoModelForImageClassification

    reference = AutoModelForImageClassification.from_pretrained(str(workspace["vit"]), local_files_only=True).eval()
    expected = _csv_accuracy(reference, workspace)
    assert 0.5 < expected < 1.0  # a model that errs somewhere: equal accuracy is a real check
    accuracy = _measurements(card, "accuracy")["accuracy"]
    assert accuracy["value"] == pytest.approx(expected, abs=1e-12) and accuracy["n"] == ROWS
    used = card["config"]["used"]
    assert used["model_kind"] == "hf" and used["classes"] == list(CLASSES) and "gradients" in used["capabilities"]
    assert "[0, 1] pixel units" in used["model_read_as"]


def test_every_generic_suite_runs_on_the_image_model(card):
    for suite in SUITES.split(","):
        _result(card, suite)
    assert any(name.startswith("accuracy[site=") or "site" in name for name in _measurements(card, "fairness"))
    robust = _measurements(card, "robustness")
    assert any("linf" in n and "0.03" in n for n in robust) and any("l2" in n for n in robust), sorted(robust)
    assert any(n.startswith("corruption") or "noise" in n or "blur" in n for n in robust), sorted(robust)
    privacy = _measurements(card, "privacy")
    assert privacy, "membership figures from --train-data"
    assert _measurements(card, "efficiency")


def test_html_shows_colour_picture_grids(workspace, card):
    charts = {c["id"]: c for r in card["results"] for c in r.get("charts", [])}
    assert {"adversarial_examples", "attribution_inputs", "attribution_maps"} <= set(charts), sorted(charts)
    for chart_id in ("adversarial_examples", "attribution_inputs"):
        grid = charts[chart_id]["images"]
        assert grid["cmap"] == "rgb"
        first = grid["images"][0][0]
        assert len(first) == 32 and len(first[0]) == 3 * 32  # the resized input, r, g, b per pixel
    html = (workspace["root"] / "full" / "scorecard.html").read_text()
    assert html.count("data:image/png;base64,") >= 10
    assert "Clean and adversarial inputs" in html and "SHAP attribution maps" in html and "Explained images" in html


def test_image_folder_data(workspace):
    from transformers import AutoModelForImageClassification

    card = _audit(workspace, workspace["vit"], workspace["folder"], "accuracy", name="folder")
    files = sorted((workspace["folder"]).glob("*/*.png"))
    reference = AutoModelForImageClassification.from_pretrained(str(workspace["vit"]), local_files_only=True).eval()
    expected = _transformers_accuracy(reference, workspace["vit"], files, [f.parent.name for f in files])
    assert _measurements(card, "accuracy")["accuracy"]["value"] == pytest.approx(expected, abs=1e-12)
    assert _measurements(card, "accuracy")["accuracy"]["n"] == len(files)


def test_lora_adapter_on_an_image_base(workspace, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageClassification

    lora = tiny_vit_lora_folder(tmp_path / "lora", workspace["vit"], steps=5)
    card = _audit(workspace, lora, workspace["images.csv"], "accuracy", "--image-column", "path", "--label", "label",
                  "--base-model", str(workspace["vit"]), name="lora")
    base = AutoModelForImageClassification.from_pretrained(str(workspace["vit"]), local_files_only=True)
    expected = _csv_accuracy(PeftModel.from_pretrained(base, str(lora)).eval(), workspace)
    assert _measurements(card, "accuracy")["accuracy"]["value"] == pytest.approx(expected, abs=1e-12)
    assert card["config"]["used"]["model_kind"] == "hf-peft"
    assert card["config"]["used"]["model_read_as"].count("sha256") == 2


def test_pickle_only_image_folder_exit_2(workspace, tmp_path):
    folder = shutil.copytree(workspace["vit"], tmp_path / "model")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")  # never read: refused before loading
    result, _ = _run(workspace, folder, workspace["images.csv"], "accuracy", "--image-column", "path", "--label",
                     "label", name="bin")
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "pytorch_model.bin" in output and "Traceback" not in output


def test_remote_code_image_processor_exit_2(workspace, tmp_path):
    folder = shutil.copytree(workspace["vit"], tmp_path / "model")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["auto_map"] = {"AutoImageProcessor": "image_processing_evil.EvilProcessor"}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    result, _ = _run(workspace, folder, workspace["images.csv"], "accuracy", "--image-column", "path", "--label",
                     "label", name="remote")
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "has 'auto_map'" in output and "Traceback" not in output, output


def test_bad_image_rows_exit_2_naming_the_rows(workspace):
    frame = pd.read_csv(workspace["images.csv"])
    frame.loc[2, "path"] = "png-5/nowhere.png"
    frame.loc[4, "path"] = None
    (workspace["root"] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    frame.loc[6, "path"] = "broken.png"
    frame.to_csv(workspace["root"] / "bad.csv", index=False)
    result, _ = _run(workspace, workspace["vit"], workspace["root"] / "bad.csv", "accuracy", "--image-column", "path",
                     "--label", "label", name="bad")
    output = " ".join(result.output.split())  # the terminal wraps long messages
    assert result.exit_code == 2, output
    assert "missing file in data rows: 3" in output and "empty image path in data rows: 5" in output
    frame.loc[[2, 4], "path"] = "png-5/0000.png"
    frame.to_csv(workspace["root"] / "bad.csv", index=False)
    result, _ = _run(workspace, workspace["vit"], workspace["root"] / "bad.csv", "accuracy", "--image-column", "path",
                     "--label", "label", name="bad")
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "unreadable image" in output and "data rows: 7" in output, output


def test_label_set_mismatch_exit_2_naming_both(workspace):
    frame = pd.read_csv(workspace["images.csv"]).assign(label=lambda f: f["label"].str.upper())
    frame.to_csv(workspace["root"] / "upper.csv", index=False)
    result, _ = _run(workspace, workspace["vit"], workspace["root"] / "upper.csv", "accuracy", "--image-column",
                     "path", "--label", "label", name="upper")
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "'BLUE'" in output and "'red', 'green', 'blue'" in output
