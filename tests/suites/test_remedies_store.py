"""The remedies' store reuses a file only for the key and remedy it was written for; anything else retrains."""

from __future__ import annotations

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from audit.suites.remedies import store
from audit.suites.remedies.variant import TrainedVariant


def _trainer(calls: list[int]):
    def train() -> TrainedVariant:
        calls.append(1)
        torch.manual_seed(len(calls))
        return TrainedVariant("dp_sgd", nn.Linear(3, 2), "DP-SGD", 1.5, 8, 8)
    return train


def _edit_metadata(path, **changes) -> None:
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["variant"])
    tensors = load_file(str(path))
    save_file(tensors, str(path), metadata={"variant": json.dumps({**meta, **changes})})


def test_reused_for_its_own_key_and_name_only(tmp_path) -> None:
    calls: list[int] = []
    key = "a" * 64
    first = store.trained_or_stored(tmp_path, key, "dp_sgd", lambda: nn.Linear(3, 2), _trainer(calls))
    again = store.trained_or_stored(tmp_path, key, "dp_sgd", lambda: nn.Linear(3, 2), _trainer(calls))
    assert calls == [1] and again.details["reused_training"] is True
    assert torch.equal(again.module.weight, first.module.weight)
    (path,) = (tmp_path / store.FOLDER).glob("*.safetensors")
    _edit_metadata(path, name="distillation<script>alert(1)</script>")  # an edited or copied cache file
    edited = store.trained_or_stored(tmp_path, key, "dp_sgd", lambda: nn.Linear(3, 2), _trainer(calls))
    assert calls == [1, 1] and edited.name == "dp_sgd" and not edited.details.get("reused_training")
    _edit_metadata(path, key="b" * 64)
    store.trained_or_stored(tmp_path, key, "dp_sgd", lambda: nn.Linear(3, 2), _trainer(calls))
    assert calls == [1, 1, 1]
    # asked for under another remedy's name, the same file is not reused either
    store.trained_or_stored(tmp_path, key, "distillation", lambda: nn.Linear(3, 2), _trainer(calls))
    assert len(calls) == 4
