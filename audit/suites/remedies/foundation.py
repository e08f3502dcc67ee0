"""The foundation-model remedy: frozen encoder + head vs LoRA vs full fine-tuning, every pillar re-audited.

On a CPU a seeded subset of `foundation_rows` rows (train + test, in the data's proportion) is used, and
the sizes are stated; on a GPU all rows. The frozen variant is the baseline each other is paired against.
Robustness of a text model here is accuracy under 10% character typos (seeded, the same typos for every
variant); membership is the loss attack on the subset's training rows against as many of its test rows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from audit.errors import SuiteSkipped
from audit.foundation.reference import subset_splits
from audit.foundation.text_checks import add_typos
from audit.stats import derive_seed
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.privacy.sampling import EvaluationSet
from audit.suites.privacy.threshold import loss_scores
from audit.suites.remedies import comparison, text_training, tradeoff
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.reaudit import AuditRows, Evidence
from audit.suites.remedies.variant import TrainedVariant
from audit.types import Measurement

TYPO_RATE = 0.1
TEXT = "text"
FINETUNES = "finetunes"  # under the run's cache folder: finished LoRA / full fine-tunes (text_training)
_SALT_SUBSET, _SALT_TYPOS, _SALT_MEMBERS = 91, 92, 93


def run_foundation(ctx: SuiteContext, params: RemediesParams) -> SuiteOutput:
    if "foundation" not in params.remedies:
        raise SuiteSkipped("the text model's remedy is 'foundation', which is not selected (the quick preset leaves it "
                           "out: fine-tuning an encoder takes minutes on a CPU)")
    model, data = ctx.model, ctx.data
    if model.encoder is None or model.recipe is None or data.train is None or data.train.raw is None \
            or data.test.raw is None or TEXT not in data.train.raw.columns:
        raise SuiteSkipped("needs the text model's sentence encoder, its head recipe and the raw text of its rows")
    on_gpu = ctx.device.startswith("cuda")
    train, test = subset_splits(data.train, data.test, None if on_gpu else params.foundation_rows,
                                derive_seed(ctx.seed, _SALT_SUBSET))
    texts_train, texts_test = list(train.raw[TEXT]), list(test.raw[TEXT])
    cache = ctx.cache_dir / FINETUNES
    settings = text_training.TextSettings(params.foundation_epochs, params.foundation_lr, params.lora_rank,
                                          params.lora_lr, model.recipe.seed, ctx.device, cache)
    ctx.progress(0, 7, "remedies: frozen encoder + head")
    frozen = text_training.frozen(model.encoder, model.recipe, train, texts_train, settings, _audited_embeddings(ctx))
    variants = [frozen]
    for i, train_one in enumerate((text_training.lora, text_training.full)):
        ctx.progress(1 + i, 7, f"remedies: {train_one.__name__} encoder")
        variants.append(train_one(model.encoder, frozen.module.head, train, texts_train, settings))
    rows, member_texts, typo_texts = _rows(train, test, texts_train, texts_test, ctx, params)
    evidence = []
    for i, v in enumerate(variants):
        ctx.progress(3 + i, 7, f"remedies: re-auditing {v.name}")
        embeddings = _audited_embeddings(ctx) if v is frozen else \
            (lambda texts, v=v: text_training.variant_embeddings(v, texts, cache, ctx.device))
        evidence.append(_collect(v, rows, texts_test, typo_texts, member_texts, embeddings))
    return _output(evidence, variants, rows, params, ctx, (len(train), len(test), len(data.train) + len(data.test)))


def _rows(train, test, texts_train: list[str], texts_test: list[str], ctx: SuiteContext,  # noqa: ANN001
          params: RemediesParams) -> tuple[AuditRows, list[str], list[str]]:
    typo_rng = np.random.default_rng([ctx.seed, _SALT_TYPOS])
    typo_texts = [add_typos(t, TYPO_RATE, typo_rng) for t in texts_test]
    n = min(len(texts_train), len(texts_test))
    rng = np.random.default_rng([ctx.seed, _SALT_MEMBERS])
    members = np.sort(rng.choice(len(texts_train), n, replace=False))
    nonmembers = np.sort(rng.choice(len(texts_test), n, replace=False))
    member_texts = [texts_train[i] for i in members] + [texts_test[i] for i in nonmembers]
    membership = EvaluationSet(
        x=torch.zeros(2 * n, 0), y=torch.cat([train.y[members], test.y[nonmembers]]),
        labels=np.r_[np.ones(n, int), np.zeros(n, int)],
        sensitive=pd.concat([train.sensitive.iloc[members], test.sensitive.iloc[nonmembers]], ignore_index=True),
        n_per_side=n, overlap=0, overlap_members=0, members_available=len(train), nonmembers_available=len(test))
    rows = AuditRows(
        x_test=torch.zeros(len(test), 0), y_test=test.y.numpy(), sensitive=test.sensitive, positive=1, binary=True,
        space=None, attack_rows=np.arange(len(test)), membership=membership, device=ctx.device,
        robust_key=f"typos,rate={TYPO_RATE:g}",
        robust_words=f"character typos in {TYPO_RATE:.0%} of words (seeded; the same typos for every variant)",
        throughput_batch=text_training.BATCH)
    return rows, member_texts, typo_texts


def _audited_embeddings(ctx: SuiteContext) -> text_training.Embed:
    """The audited encoder's fp32 sentence embeddings, shared with the text suites (this process's memo and the on-disk
    cache of perturbed texts; the data's own rows from their stored embeddings): the frozen variant's encoder is an
    unchanged copy of it, so these are its embeddings too."""
    from audit.suites.text._common import embed

    return lambda texts: embed(ctx, texts, autocast=False)


def _logits(v: TrainedVariant, texts: Sequence[str], embeddings: text_training.Embed) -> torch.Tensor:
    """The variant's logits: its head over its encoder's sentence embeddings (as `v.module(texts)` computes them)."""
    x = embeddings(list(texts))
    with torch.no_grad():
        v.module.eval()
        head = v.module.head
        device = next(head.parameters()).device
        return torch.cat([head(x[i : i + text_training.BATCH].to(device)).float().cpu()
                          for i in range(0, len(x), text_training.BATCH)])


def _texts_per_s(v: TrainedVariant, texts: Sequence[str], repeats: int = 3) -> float:
    batch = [texts[i % len(texts)] for i in range(text_training.BATCH)]
    seconds = []
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            v.module(batch)
            seconds.append(time.perf_counter() - started)
    return len(batch) / float(np.median(seconds))


def _collect(v: TrainedVariant, rows: AuditRows, texts: list[str], typo_texts: list[str],
             member_texts: list[str], embeddings: text_training.Embed) -> Evidence:
    pred = _logits(v, texts, embeddings).argmax(dim=1).numpy()
    robust = _logits(v, typo_texts, embeddings).argmax(dim=1).numpy() == rows.y_test
    assert rows.membership is not None
    scores = loss_scores(_logits(v, member_texts, embeddings), rows.membership.y, "logits")
    return Evidence(v, pred, robust, scores, _texts_per_s(v, texts))


def _output(evidence: list[Evidence], variants: list[TrainedVariant], rows: AuditRows, params: RemediesParams,
            ctx: SuiteContext, sizes: tuple[int, int, int]) -> SuiteOutput:
    weights = comparison.shared_weights(rows, params.bootstrap_resamples, ctx.seed)
    found = [comparison.pillars(e, rows, weights, params, ctx.seed) for e in evidence]
    measurements: list[Measurement] = []
    for p, e in zip(found, evidence, strict=True):
        measurements += comparison.variant_measurements(p, e, rows, params)
        if p is not found[0]:
            measurements += comparison.change_measurements(p, found[0], rows, params)
    measurements = _with_training_details(measurements, variants)
    n_train, n_test, n_all = sizes
    attribute = next(iter(rows.sensitive.columns), "")
    ctx.progress(7, 7, "remedies: done")
    subset = (f"{n_train} training and {n_test} test rows of {n_all}" if n_train + n_test < n_all
              else f"all {n_all} rows")
    return SuiteOutput(
        measurements=tuple(measurements),
        tables=(tradeoff.tradeoff_table(found, variants, attribute, "dp_difference", rows.robust_key),),
        charts=tuple(tradeoff.charts(found, attribute, "dp_difference", f"{TYPO_RATE:.0%} typos")),
        notes=(f"Foundation remedies on {ctx.device}: {subset} (seeded subset; on a GPU all rows are used). The frozen "
               "encoder with the recipe's head trained on this subset is the baseline; LoRA and full fine-tuning start "
               "from that head (linear probing, then fine-tuning) and are paired against it.",
               "Trainable parameters: " + "; ".join(f"{v.name} {v.trainable_parameters:,} of {v.parameters:,}"
                                                    for v in variants) + ".",
               "Robustness of the text variants is accuracy under character typos, not an L∞ attack; membership is the "
               "loss attack on the subset's training rows against as many of its test rows.",
               *_training_notes(variants)))


_TRAINING_DETAILS = ("training_rows", "epochs", "steps", "reused_finetune", "finetune_key")


def _with_training_details(measurements: list[Measurement], variants: list[TrainedVariant]) -> list[Measurement]:
    """Each variant's training_seconds carries the rows, epochs and optimiser steps it took, and whether the fine-tune
    was read back from an earlier run's store (its seconds are then that run's)."""
    by_name = {f"{v.name}.training_seconds": v for v in variants}
    out = []
    for m in measurements:
        v = by_name.get(m.name)
        extra = {} if v is None else {k: v.details[k] for k in _TRAINING_DETAILS if k in v.details}
        out.append(dataclasses.replace(m, details={**m.details, **extra}) if extra else m)
    return out


def _training_notes(variants: list[TrainedVariant]) -> tuple[str, ...]:
    tuned = [v for v in variants if "steps" in v.details]
    if not tuned:
        return ()
    reused = " - reused from an earlier run's stored fine-tune with the same key, not trained again"
    words = "; ".join(f"{v.name}: {v.details['steps']} optimiser steps over {v.details['training_rows']} training "
                      f"rows ({v.details['epochs']} epoch(s))" + (reused if v.details.get("reused_finetune") else "")
                      for v in tuned)
    return (f"Fine-tuning: {words}. A fine-tune is stored under the cache folder keyed by the encoder's and starting "
            "head's weights, the training rows, the settings and the training code, and reused only on an exact "
            "match.",)
