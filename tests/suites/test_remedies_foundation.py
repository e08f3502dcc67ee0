"""Frozen vs LoRA vs full fine-tuning on a tiny BERT-like encoder built from a config (no download)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
import torch

from audit.suite import Output, SuiteContext
from audit.suites.remedies import RemediesParams, RemediesSuite

pytest.importorskip("sentence_transformers")
pytest.importorskip("peft")

TINY = dataclasses.replace(RemediesParams(), foundation_rows=120, bootstrap_resamples=100, lora_lr=5e-3,
                           foundation_lr=1e-3)


@pytest.fixture(scope="module")
def setup():
    from audit.foundation.testing import tiny_text_reference

    home = Path(os.environ["AUDIT_HOME"]) / "tiny-text-remedies"
    home.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(home / "finetunes", ignore_errors=True)  # fine-tunes stored by an earlier session
    model, data = tiny_text_reference(home, n=200)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=home)
    return model, before, RemediesSuite().run(ctx, TINY), data


def test_trainable_parameters_grow_from_frozen_to_lora_to_full(setup):
    _, _, out, _ = setup
    m = {x.name: x.value for x in out.measurements}
    frozen, lora, full = (m[f"foundation.{v}.trainable_parameters"] for v in ("frozen", "lora", "full"))
    assert frozen < lora < full
    assert full == m["foundation.full.parameters"]
    assert m["foundation.lora.parameters"] > m["foundation.frozen.parameters"]  # the adapters add parameters
    rank, hidden, layers = TINY.lora_rank, 32, 2
    assert lora - frozen == layers * 2 * (2 * rank * hidden)  # A (r×d) and B (d×r) on query and value per layer


def test_every_pillar_is_reaudited_and_paired_against_the_frozen_encoder(setup):
    _, _, out, _ = setup
    names = {x.name for x in out.measurements}
    for v in ("lora", "full"):
        for figure in ("accuracy_change", "robust_accuracy_gain[typos,rate=0.1]", "dp_difference_change[sex]",
                       "membership_auc_change[loss]", "throughput_ratio", "training_seconds"):
            assert f"foundation.{v}.{figure}" in names
    assert [n for n in names if not any(Output("remedies", p).matches(n) for p in RemediesSuite.emits)] == []
    assert [r[0] for r in out.tables[0].rows] == ["foundation.frozen", "foundation.lora", "foundation.full"]
    assert "72 training and 48 test rows of 200" in out.notes[0]


def test_the_audited_encoder_is_left_unchanged(setup):
    model, before, _, _ = setup
    after = model.encoder.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)



def _figures(out) -> dict[str, float]:  # noqa: ANN001 - a SuiteOutput
    """Every figure but the timed ones (throughput, and the frozen head's training time: it is trained each run)."""
    return {m.name: m.value for m in out.measurements
            if "throughput" not in m.name and m.name != "foundation.frozen.training_seconds"}


def _hows(out) -> dict[str, str]:  # noqa: ANN001 - a SuiteOutput
    return {row[0]: row[-1] for row in out.tables[0].rows}


def test_a_second_run_reuses_the_stored_fine_tunes_with_the_same_figures(setup, monkeypatch):
    """The LoRA and full fine-tunes are stored under the cache folder, keyed by everything that makes them; a second
    run loads them (nothing is trained) and every figure but the timed ones comes out the same."""
    from audit.suites.remedies import text_training

    model, _, first, data = setup
    home = Path(os.environ["AUDIT_HOME"]) / "tiny-text-remedies"
    assert len(list((home / "finetunes").glob("*.safetensors"))) == 2
    digest = text_training._code_digest()

    def no_training(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a stored fine-tune was trained again")

    monkeypatch.setattr(text_training, "finetune", no_training)
    monkeypatch.setattr(text_training, "_train_end_to_end", no_training)
    monkeypatch.setattr(text_training, "_code_digest", lambda: digest)
    again = RemediesSuite().run(SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=home), TINY)
    assert _figures(again) == _figures(first)
    assert "reused from an earlier run" in _hows(again)["foundation.lora"]
    assert "reused from an earlier run" in _hows(again)["foundation.full"]
    assert not any("reused" in how for how in _hows(first).values())


def test_another_setting_or_seed_trains_again(setup, tmp_path):
    model, _, first, data = setup
    home = tmp_path / "home"
    RemediesSuite().run(SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=home), TINY)
    changed = dataclasses.replace(TINY, lora_lr=TINY.lora_lr / 2)
    out = RemediesSuite().run(SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=home), changed)
    assert not any("reused" in how for how in _hows(out).values())  # the settings are part of the key
    assert len(list((home / "finetunes").glob("*.safetensors"))) == 4
