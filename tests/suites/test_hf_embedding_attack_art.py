"""The inputs_embeds attack of the text robustness suite against ART's ProjectedGradientDescent (the independent
check): same tiny BERT, same rows and embeddings, same per-row L2 budget, steps and step size, no random start."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.models.hf_testing import (
    CLASSES,
    art_inputs_embeds_pgd,
    suite_inputs_embeds_pgd,
    text_rows,
    tiny_folders,
)

pytest.importorskip("art")


@pytest.fixture(scope="module")
def rows():
    from audit.models import hf

    loaded = hf.load_hf_folder(tiny_folders(Path(os.environ["AUDIT_HOME"]) / "tiny-hf")["gendered"])
    frame = text_rows(24, 5, "gendered")
    x = hf.HFTextInputs(loaded.tokenizer, hf.max_length(loaded)).texts_to_inputs(list(frame["text"]))
    y = torch.as_tensor((frame["label"] == CLASSES[1]).to_numpy().astype(np.int64))
    return hf.HFSequenceClassifier(loaded.model).eval(), x, y


@pytest.mark.parametrize("eps", [0.1, 0.35, 0.6])
def test_inputs_embeds_pgd_agrees_with_art_row_by_row(rows, eps):
    module, x, y = rows
    ours = suite_inputs_embeds_pgd(module, x, y, eps, steps=10, chunk=16)  # two chunks of different lengths
    art = art_inputs_embeds_pgd(module, x, y, eps, steps=10, chunk=16)
    assert ours.float().mean().item() == pytest.approx(art.float().mean().item(), abs=0.01)
    assert (ours == art).float().mean().item() >= 0.95


def test_the_attack_bites_at_a_large_radius(rows):
    module, x, y = rows
    with torch.no_grad():
        clean = (module(x).argmax(1) == y).float().mean().item()
    assert clean == 1.0
    assert suite_inputs_embeds_pgd(module, x, y, 0.6, steps=10).float().mean().item() <= 0.6  # not a vacuous match
