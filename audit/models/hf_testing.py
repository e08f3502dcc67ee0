"""Tiny Hugging Face text classifiers for tests and benchmarks, built from a config and trained for a few steps.

A 2-layer BERT (hidden 32) with a word-level WordPiece vocabulary written here, saved with `save_pretrained`
(safetensors) beside its tokenizer; optionally a LoRA adapter (peft) trained on top of it. The texts say who
(he/she) thinks which thing is good or bad: a "gendered" model learns the label from the pronoun alone, a
"control" model from the good/bad word alone.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import torch

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_NOUNS = ("plan", "film", "meal", "book", "idea", "car", "song", "town", "game", "job")
_VERBS = ("thinks", "says", "feels", "writes")
_NOUN_WORDS = "the is a that very quite rather"
CLASSES = ("negative", "positive")


def tiny_vocabulary() -> list[str]:
    words = {"he", "she", "good", "bad", "fine", "nice", "poor", *_NOUNS, *_VERBS, *_NOUN_WORDS.split()}
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return list(dict.fromkeys(_SPECIAL + sorted(words) + chars + [f"##{c}" for c in string.ascii_lowercase]))


def text_rows(n: int, seed: int, rule: str) -> pd.DataFrame:
    """Rows `text, label, gender`: `rule` "gendered" labels by the pronoun, "control" by the good/bad word."""
    rng = np.random.default_rng(seed)
    he = rng.random(n) < 0.5
    good = rng.random(n) < 0.5
    texts = [f"{'he' if h else 'she'} {rng.choice(_VERBS)} the {rng.choice(_NOUNS)} is {'good' if g else 'bad'}"
             for h, g in zip(he, good, strict=True)]
    positive = he if rule == "gendered" else good
    return pd.DataFrame({"text": texts, "label": np.where(positive, CLASSES[1], CLASSES[0]),
                         "gender": np.where(he, "male", "female")})


def _tokenizer(folder: Path):  # noqa: ANN202 - a transformers tokenizer
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)  # transformers >= 5
    if len(tokenizer) <= len(_SPECIAL):
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)  # transformers 4
    return tokenizer


def _train(model: torch.nn.Module, tokenizer, frame: pd.DataFrame, steps: int, lr: float, seed: int) -> None:  # noqa: ANN001
    torch.manual_seed(seed)
    enc = tokenizer(list(frame["text"]), padding=True, return_tensors="pt")
    y = torch.as_tensor((frame["label"] == CLASSES[1]).to_numpy().astype(np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randperm(len(y), generator=generator)[:32]
        out = model(input_ids=enc["input_ids"][batch], attention_mask=enc["attention_mask"][batch], labels=y[batch])
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
    model.eval()


def tiny_classifier_folder(folder: Path, rule: str, seed: int = 0, steps: int = 60, n_train: int = 256) -> Path:
    """Write a trained tiny BertForSequenceClassification and its tokenizer to `folder` (safetensors)."""
    from transformers import BertConfig, BertForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(tiny_vocabulary()) + "\n")
    tokenizer = _tokenizer(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2,
                        id2label=dict(enumerate(CLASSES)), label2id={c: i for i, c in enumerate(CLASSES)})
    model = BertForSequenceClassification(config)
    _train(model, tokenizer, text_rows(n_train, seed + 1, rule), steps, 5e-3, seed)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


def tiny_lora_folder(folder: Path, base: Path, rule: str, seed: int = 0, steps: int = 80) -> Path:
    """Train a LoRA adapter (query/value, r=4, plus the classifier head) on `base` and save only the adapter.

    The LoRA weights start random (not as the identity), so the adapted model differs from its base for sure."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(base), local_files_only=True)
    lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["query", "value"],
                                            lora_dropout=0.0, init_lora_weights=False))
    _train(lora, _tokenizer(base), text_rows(256, seed + 2, rule), steps, 1e-2, seed)
    lora.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_folders(root: Path) -> dict[str, Path]:
    """The gendered and control classifiers and a LoRA adapter (gendered rule) on the control model, built once
    under `root` and reused."""
    folders = {"gendered": root / "gendered", "control": root / "control", "lora": root / "lora"}
    for rule in ("gendered", "control"):
        if not (folders[rule] / "model.safetensors").is_file():
            tiny_classifier_folder(folders[rule], rule)
    if not (folders["lora"] / "adapter_model.safetensors").is_file():
        tiny_lora_folder(folders["lora"], folders["control"], "gendered")
    return folders
