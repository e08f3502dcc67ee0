"""Text efficiency: fp32 vs int8 / bf16 / fp16 / LoRA-merged variants of a text model - sequences/s at the data's
own lengths, latency, size, peak memory, and the drift of accuracy and group gaps on the same rows (paired CIs).

For a sentence encoder behind a head (the MiniLM reference) the encoder is varied and the head reads its embeddings
(embedding cosine to fp32 is reported too); for a Hugging Face classifier the whole model is varied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.types import Measurement, Table

if TYPE_CHECKING:
    from audit.suites.text._variant_costs import Costs

# The choices are _variants.VARIANTS (not imported here: heavy).
_CHOICES = ("int8", "bf16", "fp16", "lora-merged")


@dataclass(frozen=True)
class TextEfficiencyParams:
    # bf16/fp16 run where the device has native kernels, lora-merged when an adapter is loaded; else skipped, saying why
    variants: tuple[str, ...] = bounded(_CHOICES, choices=_CHOICES)
    n_rows: int = bounded(1000, min=1)  # rows for the drift of accuracy and group gaps
    n_timing: int = bounded(256, min=1)  # rows (the first of those) timed per pass
    repeats: int = bounded(2, min=1)  # timed passes; the fastest counts (least disturbed by other load)
    single_calls: int = bounded(16, min=1)  # one-text calls for latency
    resamples: int = bounded(1000, min=1)
    batch_size: int = bounded(64, min=1)


class TextEfficiencySuite:
    name: ClassVar[str] = "text-efficiency"
    pillar: ClassVar[str] = "efficiency"
    requires: ClassVar[frozenset[str]] = frozenset({"input:text"})
    runs_alone: ClassVar[bool] = True  # sequences/s and latency are timed with no other suite running
    description: ClassVar[str] = ("fp32 vs int8 / bf16 / fp16 / LoRA-merged: sequences/s, latency, size, peak memory, "
                                  "accuracy and fairness drift")
    Params = TextEfficiencyParams
    emits: ClassVar[tuple[str, ...]] = (
        "throughput[*]", "speedup[*]", "latency_ms[*]", "size_bytes[*]", "peak_memory_bytes[*]", "embedding_cosine[*]",
        "prediction_agreement[*]", "accuracy_drift[*]", "dp_difference_drift[*]", "equalized_odds_difference_drift[*]")

    def params_for(self, preset: str) -> TextEfficiencyParams:
        if preset == "quick":
            return TextEfficiencyParams(n_rows=200, n_timing=64, repeats=1, single_calls=8, resamples=200)
        return TextEfficiencyParams()

    def run(self, ctx: SuiteContext, params: TextEfficiencyParams) -> SuiteOutput:
        """Timed calls and the variants' drift embeddings run on torch's thread setting (recorded with each figure;
        int8's outputs change with it); the rest on one thread, where on a busy 2-core machine a second thread spins
        rather than helps."""
        from audit.threads import one_thread

        threads = torch.get_num_threads()
        with one_thread():
            return _run(ctx, params, threads)


def _run(ctx: SuiteContext, params: TextEfficiencyParams, threads: int) -> SuiteOutput:
    from audit.suites.remedies.paired import weights
    from audit.suites.text._common import embed, sample_text_rows
    from audit.suites.text._efficiency_drift import decision_drift, gap_drift
    from audit.suites.text._variant_costs import (
        EncoderAndHead,
        WholeClassifier,
        logits,
        measure_costs,
        variant_store,
    )
    from audit.suites.text._variants import build_variant
    from audit.threads import torch_threads

    rows = sample_text_rows(ctx, params.n_rows)
    whole = hasattr(ctx.model.encoder, "texts_to_inputs")  # a Hugging Face classifier: the whole model varies
    varied = ctx.model.module.model if whole else ctx.model.encoder
    assert varied is not None

    def runner(module: torch.nn.Module) -> torch.nn.Module:
        return WholeClassifier(module, ctx.model.encoder) if whole else \
            EncoderAndHead(module, ctx.model.module, params.batch_size)

    timed = rows.texts[: params.n_timing]
    lengths = _token_lengths(ctx, timed)

    def costs(module: torch.nn.Module, run: torch.nn.Module | None = None) -> Costs:
        with torch_threads(threads):
            return measure_costs(run if run is not None else runner(module), module, timed, params.batch_size,
                                 params.repeats, params.single_calls)

    ctx.progress(0, len(params.variants) + 1, "text efficiency: fp32")
    base_x = embed(ctx, rows.texts, params.batch_size, autocast=False)  # exact fp32 embeddings, or tokenisation
    base_pred = ctx.model.predict(base_x, params.batch_size)
    base = costs(varied)
    what = "model" if whole else "sentence encoder"
    measurements, notes = _cost_measurements("fp32", base, None, "the model as audited", lengths, what), []
    w = weights(len(rows), params.resamples, ctx.seed)
    for step, kind in enumerate(params.variants):
        ctx.progress(step + 1, len(params.variants) + 1, f"text efficiency: {kind}")
        variant = build_variant(kind, varied, ctx.device)
        if variant.module is None:
            notes.append(f"{kind} was not measured: {variant.skipped}.")
            continue
        run = runner(variant.module)
        measurements += _cost_measurements(kind, costs(variant.module, run), base, variant.how, lengths, what)
        details = {"variant": kind, "how": variant.how, "rows": len(rows), "resamples": params.resamples,
                   "favourable_class": ctx.data.class_names[ctx.data.positive_class]}
        if whole:
            pred = logits(run, rows.texts, params.batch_size).argmax(dim=1).numpy()
        else:
            with torch_threads(threads):  # int8's outputs depend on the thread count: as many as the timed calls
                emb = run.embeddings(rows.texts, variant_store(ctx.cache_dir, varied, kind))
            pred = ctx.model.predict(emb, params.batch_size)
            measurements.append(_cosine(kind, emb, base_x, w, details))
        measurements += decision_drift(kind, rows.y, base_pred, pred, w, details)
        for attr in rows.groups.columns:
            measurements += gap_drift(kind, str(attr), rows.groups[attr], rows.y, base_pred, pred, w,
                                      ctx.data.positive_class, ctx.model.n_classes, details)
    ctx.progress(len(params.variants) + 1, len(params.variants) + 1, "text efficiency: done")
    notes += _notes(measurements, base, whole)
    return SuiteOutput(measurements=tuple(measurements), tables=(_table(measurements),), notes=tuple(notes))


def _token_lengths(ctx: SuiteContext, texts: tuple[str, ...]) -> dict[str, float]:
    """Token counts of the timed texts (special tokens included), as the model's tokenizer cuts them."""
    encoder = ctx.model.encoder
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None or not texts:
        return {}
    limit = getattr(encoder, "length", None) or getattr(encoder, "max_seq_length", None)
    ids = tokenizer(list(texts), truncation=limit is not None, max_length=limit)["input_ids"]
    counts = np.array([len(i) for i in ids], dtype=float)
    return {"tokens_mean": float(counts.mean()), "tokens_p95": float(np.percentile(counts, 95)),
            "tokens_max": float(counts.max())}


def _cost_measurements(kind: str, c, base, how: str, lengths: dict,  # noqa: ANN001 - Costs
                       what: str) -> list[Measurement]:
    where = {"device": c.device, "how": how, "batch_size": c.batch_size, "torch_threads": c.threads}
    out = [
        Measurement(f"throughput[{kind}]", c.sequences_per_s, None, True, c.sequences,
                    f"Texts the {kind} model classifies per second on {c.device}, from raw text (tokenising "
                    f"included) in batches of {c.batch_size} at the data's own lengths (best of {c.repeats} passes).",
                    {**where, "sequences": c.sequences, "repeats": c.repeats, **lengths}),
        Measurement(f"latency_ms[{kind}]", c.latency_ms, None, False, c.single_calls,
                    f"Median milliseconds the {kind} model takes for one text on its own.",
                    {**where, "p95_ms": c.latency_p95_ms, "calls": c.single_calls}),
        Measurement(f"size_bytes[{kind}]", float(c.size_bytes), None, False, 1,
                    f"Bytes of the {kind} {what}'s weights saved with "
                    "torch.save (state dict).", where),
        Measurement(f"peak_memory_bytes[{kind}]", float(c.peak_memory_bytes), None, False, c.batch_size,
                    f"Bytes of tensors allocated at the peak of one forward pass over {c.batch_size} texts, beyond "
                    f"what existed before it ({_MEMORY_METHOD[c.device.startswith('cuda')]}).", where),
    ]
    if base is not None and c.device == base.device:  # across devices a speed-up compares hardware, not precision
        out.append(Measurement(f"speedup[{kind}]", c.sequences_per_s / base.sequences_per_s, None, True, c.sequences,
                               f"Throughput of the {kind} model relative to fp32 (above 1 is faster).", where))
    return out


_MEMORY_METHOD = {False: "torch profiler's CPU allocation events, profile_memory=True; not tracemalloc, which cannot "
                         "see tensor memory", True: "torch.cuda.max_memory_allocated"}


def _cosine(kind: str, emb: torch.Tensor, base: torch.Tensor, w: np.ndarray, details: dict) -> Measurement:
    from audit.suites.remedies.paired import mean_samples

    cosine = torch.nn.functional.cosine_similarity(emb.double(), base.double(), dim=1).numpy()
    s = mean_samples(cosine, w)
    return Measurement(f"embedding_cosine[{kind}]", s.point, s.ci, True, len(cosine),
                       f"Average cosine similarity of {kind} sentence embeddings to fp32 ones (1 is identical).",
                       {**details, "min": float(cosine.min())})


def _notes(measurements: list[Measurement], base, whole: bool) -> list[str]:  # noqa: ANN001 - Costs
    notes = [f"Varied: the {'whole classifier' if whole else 'sentence encoder (the head reads its embeddings)'}; "
             "drift CIs are paired bootstrap intervals over the same rows and resamples."]
    if not whole:
        notes.append("The drift rows' variant embeddings come from an on-disk cache of that variant's embeddings "
                     "(keyed by the encoder's weights, the variant, the torch version, quantised engine and CPU "
                     "instruction set) where an earlier run computed them, else they are encoded; timed calls always "
                     "run the variant.")
    other = sorted({m.details['device'] for m in measurements if m.name.startswith("throughput")} - {base.device})
    if other:
        notes.append(f"Variants on {', '.join(other)} (int8 kernels are CPU-only) are not compared for speed with fp32 "
                     f"on {base.device}.")
    return notes


def _table(measurements: list[Measurement]) -> Table:
    return Table(id="text_efficiency", title="Text model variants", columns=("measurement", "value", "95% CI"),
                 rows=tuple((m.name, round(m.value, 4), "" if m.ci is None else f"[{m.ci[0]:.4f}, {m.ci[1]:.4f}]")
                            for m in measurements))
