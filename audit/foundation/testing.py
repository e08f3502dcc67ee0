"""Test fixtures for the text path: a tiny random sentence encoder folder and Adult-like rows.

The tiny encoder is a 2-layer BERT (hidden 32) with a word-level vocabulary covering the serialised
Adult phrases, written as a sentence-transformers folder with safetensors weights, so tests exercise the
same loader and encoding path as the real MiniLM without its 90 MB download.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.data.types import Dataset, Split
from audit.foundation import serialise
from audit.models.types import ModelUnderAudit

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocabulary() -> list[str]:
    phrases = [
        *serialise.RACE_WORDS.values(), *serialise.SEX_NOUNS.values(), *serialise.MARITAL.values(),
        *serialise.EDUCATION.values(), *serialise.OCCUPATION.values(), *serialise.WORKCLASS.values(),
        *serialise.RELATIONSHIP.values(), *serialise.COUNTRY_SPECIAL.values(),
        "a an year old person with works hours week as household role no capital gains losses or and of born in",
        "he she his her him husband wife this is that there here it will be person name",
        "john amy science poetry career family pleasant",
    ]
    words = {w for p in phrases for w in re.findall(r"[a-z]+", p.lower())}
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    # One entry per token: single-letter words ("a") are also characters, and a repeated vocab.txt line makes
    # the tokenizer's ids and the model's vocab_size disagree.
    return list(dict.fromkeys(_SPECIAL + sorted(words) + chars + [f"##{c}" for c in string.ascii_lowercase +
                                                                   string.digits]))


def tiny_encoder_folder(folder: Path, seed: int = 0, hidden: int = 32) -> Path:
    """Write a tiny random sentence-transformers model (safetensors) to `folder`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)  # transformers >= 5
    if len(tokenizer) <= len(_SPECIAL):
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)  # transformers 4
    tokenizer.save_pretrained(str(folder))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}))
    return folder


def synthetic_adult_splits(n: int = 400, seed: int = 0, test_fraction: float = 0.4) -> tuple[Split, Split]:
    """Adult-like raw rows (original column names and categories) with an income label that depends on
    education, hours, marriage and (as a planted bias) sex."""
    rng = np.random.default_rng(seed)

    def pick(options: dict[str, str], p: list[float] | None = None) -> np.ndarray:
        return rng.choice(list(options), size=n, p=p)

    sex = rng.choice(["Male", "Female"], size=n, p=[0.65, 0.35])
    married = rng.random(n) < 0.5
    frame = pd.DataFrame({
        "age": rng.integers(18, 75, n), "workclass": pick(serialise.WORKCLASS),
        "education": pick(serialise.EDUCATION),
        "marital-status": np.where(married, "Married-civ-spouse", "Never-married"),
        "occupation": pick(serialise.OCCUPATION),
        "relationship": np.where(married, np.where(sex == "Male", "Husband", "Wife"), "Not-in-family"),
        "race": rng.choice(["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo"], size=n,
                           p=[0.7, 0.15, 0.1, 0.05]),
        "sex": sex, "capital-gain": np.where(rng.random(n) < 0.1, rng.integers(1000, 20000, n), 0),
        "capital-loss": 0, "hours-per-week": rng.integers(10, 70, n), "native-country": "United-States",
    })
    degree = frame["education"].isin(["Bachelors", "Masters", "Doctorate", "Prof-school"]).to_numpy()
    hours = frame["hours-per-week"].to_numpy()
    logit = 2.0 * degree + 1.5 * married + 0.04 * (hours - 40) + 0.8 * (sex == "Male") - 2.0
    y = torch.as_tensor((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64))
    whole = Split(x=torch.zeros(n, 1), y=y, sensitive=frame[["sex", "race"]].copy(), raw=frame)
    cut = int(n * (1 - test_fraction))
    return whole.subset(torch.arange(cut)), whole.subset(torch.arange(cut, n))


def tiny_text_reference(home: Path, n: int = 400, seed: int = 0) -> tuple[ModelUnderAudit, Dataset]:
    """A text reference model over the tiny encoder and synthetic Adult rows (cached under `home`)."""
    from audit.foundation.loader import load_encoder
    from audit.foundation.reference import HEAD_RECIPE, build_text_reference

    folder = home / "tiny-encoder"
    if not (folder / "model.safetensors").is_file():
        tiny_encoder_folder(folder, seed=seed)
    train, test = synthetic_adult_splits(n, seed)
    # Random tiny embeddings differ little between sentences: a faster-learning head than MiniLM's.
    recipe = dataclasses.replace(HEAD_RECIPE, lr=1e-2, epochs=60, batch_size=64, description="tiny test head")
    return build_text_reference(train, test, load_encoder(folder), home, name="tiny-text", seed=seed,
                                head_recipe=recipe)
