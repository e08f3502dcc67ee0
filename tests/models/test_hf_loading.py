"""Local Hugging Face folders: loaded offline through allow-lists, refused with exit-2 messages when unsafe.

Predictions are checked against transformers (and peft) run directly on the same texts."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from audit.errors import AuditInputError
from audit.models import hf
from audit.models.hf_testing import text_rows, tiny_folders


@pytest.fixture(scope="module")
def folders() -> dict[str, Path]:
    return tiny_folders(Path(os.environ["AUDIT_HOME"]) / "tiny-hf")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    content = json.loads(path.read_text())
    content.update(changes)
    path.write_text(json.dumps(content))


def _reference_logits(model: torch.nn.Module, folder: Path, texts: list[str]) -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits


def _reference_predictions(model: torch.nn.Module, folder: Path, texts: list[str]) -> torch.Tensor:
    return _reference_logits(model, folder, texts).argmax(1)


def _audited_predictions(folder: Path, texts: list[str], **kwargs) -> tuple[torch.Tensor, hf.HFLoaded]:
    loaded = hf.load_hf_folder(folder, **kwargs)
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    model = hf.hf_model(loaded, encoder, folder.name, str(folder), "cpu")
    return torch.as_tensor(model.predict(encoder.texts_to_inputs(texts), batch_size=16)), loaded


def test_predictions_equal_transformers(folders):
    from transformers import AutoModelForSequenceClassification

    texts = list(text_rows(40, 3, "control")["text"])
    ours, loaded = _audited_predictions(folders["control"], texts)
    reference = AutoModelForSequenceClassification.from_pretrained(str(folders["control"]), local_files_only=True)
    assert torch.equal(ours, _reference_predictions(reference.eval(), folders["control"], texts))
    assert loaded.class_names == ("negative", "positive")
    assert loaded.kind == "hf"


def test_lora_adapter_loads_on_its_base_and_equals_peft(folders):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    texts = list(text_rows(40, 4, "gendered")["text"])
    ours, loaded = _audited_predictions(folders["lora"], texts)
    base = AutoModelForSequenceClassification.from_pretrained(str(folders["control"]), local_files_only=True)
    base_logits = _reference_logits(base.eval(), folders["control"], texts)
    reference = PeftModel.from_pretrained(base, str(folders["lora"])).eval()
    assert torch.equal(ours, _reference_predictions(reference, folders["control"], texts))
    assert not torch.allclose(_reference_logits(reference, folders["control"], texts), base_logits)  # applied
    assert loaded.kind == "hf-peft"
    assert "adapter" in loaded.description and str(folders["control"]) in loaded.description
    assert loaded.description.count("sha256") == 2  # base and adapter hashes both recorded


def test_adapter_with_base_elsewhere_needs_base_model(folders, tmp_path):
    adapter = _copy(folders["lora"], tmp_path / "adapter")
    _edit_json(adapter / "adapter_config.json", base_model_name_or_path="some-org/not-here")
    with pytest.raises(AuditInputError, match="--base-model"):
        hf.load_hf_folder(adapter)
    ours, loaded = _audited_predictions(adapter, ["he says the film is good"], base_model=folders["control"])
    assert loaded.kind == "hf-peft" and ours.shape == (1,)


def test_pickle_only_folder_refused_unless_allowed(folders, tmp_path):
    folder = _copy(folders["control"], tmp_path / "bin-only")
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(AuditInputError, match="pytorch_model.bin.*--allow-unsafe-load"):
        hf.load_hf_folder(folder)
    ours, _ = _audited_predictions(folder, ["she thinks the car is bad"], allow_unsafe_load=True)
    assert ours.shape == (1,)


@pytest.mark.parametrize("file, changes, message", [
    ("config.json", {"auto_map": {"AutoModelForSequenceClassification": "evil.Model"}}, "auto_map"),
    ("tokenizer_config.json", {"auto_map": {"AutoTokenizer": ["evil.Tok", None]}}, "auto_map"),
    ("config.json", {"architectures": ["EvilForSequenceClassification"]}, "not a transformers class"),
    ("config.json", {"model_type": "evil-bert"}, "does not ship"),
])
def test_remote_code_configs_refused(folders, tmp_path, file, changes, message):
    folder = _copy(folders["control"], tmp_path / "remote")
    _edit_json(folder / file, **changes)
    with pytest.raises(AuditInputError, match=message):
        hf.load_hf_folder(folder)


def test_unknown_peft_type_refused(folders, tmp_path):
    adapter = _copy(folders["lora"], tmp_path / "adapter")
    _edit_json(adapter / "adapter_config.json", peft_type="EVIL")
    with pytest.raises(AuditInputError, match="peft_type 'EVIL'"):
        hf.load_hf_folder(adapter)


def test_offline_switch_set_while_loading_and_restored(folders, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = {}
    from transformers import AutoTokenizer

    real = AutoTokenizer.from_pretrained

    def record(*args, **kwargs):
        seen["offline"] = os.environ.get("HF_HUB_OFFLINE")
        seen["kwargs"] = kwargs
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", record)
    hf.load_hf_folder(folders["control"])
    assert seen["offline"] == "1"
    assert seen["kwargs"]["local_files_only"] is True and seen["kwargs"]["trust_remote_code"] is False
    assert "HF_HUB_OFFLINE" not in os.environ


def test_inputs_embeds_view_matches_the_model(folders):
    texts = ["he thinks the plan is very good", "she says"]  # unequal lengths: the second has padding
    loaded = hf.load_hf_folder(folders["control"])
    encoder = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded))
    module = hf.HFSequenceClassifier(loaded.model)
    x = encoder.texts_to_inputs(texts)
    head, flat = module.embedding_view(x)
    with torch.no_grad():
        assert torch.allclose(head(flat), module(x), atol=1e-5)
    flat = flat.clone().requires_grad_(True)
    head(flat)[:, 1].sum().backward()
    padding = head.perturbable == 0
    assert flat.grad[~padding].abs().sum() > 0
    assert flat.grad[padding].abs().max() == 0  # masked positions cannot move the prediction
