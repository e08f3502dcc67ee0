"""The tiny test encoder's vocabulary: one line per token, so ids and the model's vocab_size agree."""

from __future__ import annotations

import json
from pathlib import Path


def test_tiny_encoder_vocabulary_is_unique_and_matches_the_model(tiny_folder: Path):
    from transformers import AutoTokenizer

    lines = (tiny_folder / "vocab.txt").read_text().splitlines()
    assert len(lines) == len(set(lines))
    assert {"a", "s"} <= set(lines)  # words that are also single characters appear once
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_folder), local_files_only=True)
    assert len(tokenizer) == json.loads((tiny_folder / "config.json").read_text())["vocab_size"] == len(lines)
    assert tokenizer.convert_tokens_to_ids("a") == lines.index("a")
