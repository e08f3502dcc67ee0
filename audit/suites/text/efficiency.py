"""Text efficiency: int8 and bf16/fp16 encoders vs fp32 - speed, size, embedding fidelity, downstream drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from audit.suite import SuiteContext, SuiteOutput, bounded
from audit.types import Measurement, Table


@dataclass(frozen=True)
class TextEfficiencyParams:
    # of int8, bf16, fp16 (fp16 only on a GPU); the choices are _variants.VARIANTS (not imported here: heavy)
    variants: tuple[str, ...] = bounded(("int8", "bf16"), choices=("int8", "bf16", "fp16"))
    n_rows: int = bounded(1000, min=1)  # rows for fidelity and downstream drift
    n_timing: int = bounded(512, min=1)  # sentences timed per encoder
    repeats: int = bounded(2, min=1)
    resamples: int = bounded(1000, min=1)
    batch_size: int = bounded(64, min=1)


class TextEfficiencySuite:
    name: ClassVar[str] = "text-efficiency"
    pillar: ClassVar[str] = "efficiency"
    requires: ClassVar[frozenset[str]] = frozenset({"input:text"})
    description: ClassVar[str] = "int8 / bf16 encoders vs fp32: sentences/s, embedding similarity, accuracy drift"
    Params = TextEfficiencyParams
    emits: ClassVar[tuple[str, ...]] = ("throughput[*]", "speedup[*]", "encoder_size_mb[*]", "embedding_cosine[*]",
                                        "prediction_agreement[*]", "accuracy_drift[*]", "dp_difference_drift[*]")

    def params_for(self, preset: str) -> TextEfficiencyParams:
        if preset == "quick":
            return TextEfficiencyParams(n_rows=200, n_timing=128, repeats=1, resamples=200)
        return TextEfficiencyParams()

    def run(self, ctx: SuiteContext, params: TextEfficiencyParams) -> SuiteOutput:
        from audit.suites.text._common import embed, sample_text_rows
        from audit.suites.text._variants import make_variant, size_mb, time_encoder

        if hasattr(ctx.model.encoder, "texts_to_inputs"):
            from audit.errors import SuiteSkipped

            raise SuiteSkipped("the text-efficiency suite measures int8/bf16 copies of a sentence encoder; for a "
                               "whole Hugging Face text classifier the fp32/bf16/int8/LoRA-merged comparison is not "
                               "built yet")
        rows = sample_text_rows(ctx, params.n_rows)
        timing_texts = list(rows.texts[: params.n_timing])
        assert ctx.model.encoder is not None
        base = ctx.model.encoder
        base_emb = embed(ctx, rows.texts, params.batch_size, autocast=False)  # exact fp32 reference
        base_time = time_encoder(base, timing_texts, params.batch_size, params.repeats)
        measurements = [_throughput("fp32", base_time), _size("fp32", size_mb(base))]
        notes = []
        runnable = [v for v in params.variants if not (v == "fp16" and not ctx.device.startswith("cuda"))]
        for step, kind in enumerate(runnable):
            ctx.progress(step, len(runnable), f"text efficiency: {kind} encoder")
            variant = make_variant(base, kind)
            timing = time_encoder(variant, timing_texts, params.batch_size, params.repeats)
            emb = embed(ctx, rows.texts, params.batch_size, encoder=variant, autocast=False)
            measurements += [_throughput(kind, timing), _size(kind, size_mb(variant))]
            if timing.device == base_time.device:  # a speed-up across devices would compare hardware, not precision
                measurements.append(_speedup(kind, timing, base_time))
            else:
                notes.append(f"The {kind} encoder runs on {timing.device} (no {kind} kernels on {base_time.device}); "
                             "its throughput is not compared with fp32.")
            measurements += _fidelity(ctx, kind, base_emb, emb, rows, params.resamples)
        ctx.progress(len(runnable), len(runnable), "text efficiency: done")
        if len(runnable) < len(params.variants):
            notes.append("fp16 was skipped: it is only measured on a GPU.")
        return SuiteOutput(measurements=tuple(measurements), tables=(_table(measurements),), notes=tuple(notes))


def _throughput(kind: str, timing) -> Measurement:  # noqa: ANN001 - a _variants.Timing
    return Measurement(
        f"throughput[{kind}]", timing.sentences_per_s, None, True, timing.sentences,
        f"Sentences the {kind} encoder embeds per second on {timing.device} (best of {timing.repeats} runs).",
        {"device": timing.device, "sentences": timing.sentences, "repeats": timing.repeats,
         "torch_threads": torch.get_num_threads()})


def _speedup(kind: str, timing, base) -> Measurement:  # noqa: ANN001 - _variants.Timing
    return Measurement(f"speedup[{kind}]", timing.sentences_per_s / base.sentences_per_s, None, True,
                       timing.sentences, f"Throughput of the {kind} encoder relative to fp32 (above 1 is faster).",
                       {"device": timing.device, "baseline_device": base.device})


def _size(kind: str, megabytes: float) -> Measurement:
    return Measurement(f"encoder_size_mb[{kind}]", megabytes, None, False, 1,
                       f"Size of the {kind} encoder's weights in megabytes.", {})


MIN_GROUP_ROWS = 30  # smaller groups make a demographic-parity gap mostly noise


def _dp_difference(pred: np.ndarray, groups: np.ndarray, included: tuple[str, ...]) -> float:
    rates = [pred[groups == g].mean() for g in included if (groups == g).any()]
    return float(max(rates) - min(rates)) if len(rates) > 1 else float("nan")


def _fidelity(ctx: SuiteContext, kind: str, base_emb: torch.Tensor, emb: torch.Tensor, rows, resamples: int
              ) -> list[Measurement]:  # noqa: ANN001 - rows is a TextSample
    from audit.stats import bootstrap_ci, bootstrap_mean_ci

    cosine = torch.nn.functional.cosine_similarity(emb.double(), base_emb.double(), dim=1).numpy()
    base_pred, pred = ctx.model.predict(base_emb), ctx.model.predict(emb)
    gain = (pred == rows.y).astype(float) - (base_pred == rows.y).astype(float)
    agree = (pred == base_pred).astype(float)
    details = {"variant": kind, "resamples": resamples, "rows": len(rows)}
    out = [
        Measurement(f"embedding_cosine[{kind}]", float(cosine.mean()), bootstrap_mean_ci(cosine, resamples, ctx.seed),
                    True, len(rows), f"Average cosine similarity of {kind} embeddings to fp32 ones (1 is identical).",
                    {**details, "min": float(cosine.min())}),
        Measurement(f"accuracy_drift[{kind}]", float(gain.mean()), bootstrap_mean_ci(gain, resamples, ctx.seed), None,
                    len(rows), f"Change in accuracy when the head reads {kind} instead of fp32 embeddings (paired).",
                    details),
        Measurement(f"prediction_agreement[{kind}]", float(agree.mean()), bootstrap_mean_ci(agree, resamples, ctx.seed),
                    True, len(rows), f"Share of predictions unchanged when the encoder runs in {kind}.", details),
    ]
    for attr in ctx.data.sensitive_attributes:
        groups = rows.groups[attr].astype(str).to_numpy()
        names, counts = np.unique(groups, return_counts=True)
        included = tuple(str(g) for g, c in zip(names, counts, strict=True) if c >= MIN_GROUP_ROWS)

        def drift(idx: np.ndarray, g: np.ndarray = groups, keep: tuple[str, ...] = included) -> float:
            return _dp_difference(pred[idx], g[idx], keep) - _dp_difference(base_pred[idx], g[idx], keep)

        out.append(Measurement(
            f"dp_difference_drift[{kind},{attr}]", drift(np.arange(len(rows))),
            bootstrap_ci(drift, len(rows), resamples, ctx.seed), None, len(rows),
            f"Change in the gap between the highest and lowest {attr} group's positive prediction rate when the "
            f"encoder runs in {kind}.", {**details, "groups": list(included), "min_group_rows": MIN_GROUP_ROWS},
            insufficient_reason=None if len(included) > 1 else f"fewer than two {attr} groups with "
                                                                   f"{MIN_GROUP_ROWS}+ rows"))
    return out


def _table(measurements: list[Measurement]) -> Table:
    return Table(id="text_efficiency", title="Reduced-precision encoders", columns=("measurement", "value", "95% CI"),
                 rows=tuple((m.name, round(m.value, 4), "" if m.ci is None else f"[{m.ci[0]:.4f}, {m.ci[1]:.4f}]")
                            for m in measurements))
