"""Tables, charts and plain-language notes of the efficiency suite (data only)."""

from __future__ import annotations

import numpy as np

from audit.suites.efficiency.figures import FairnessChange, Reference
from audit.suites.efficiency.measure import VariantResult
from audit.suites.efficiency.variants import Variant
from audit.types import Chart, Series, Table


def _r(value: float) -> float:
    return round(float(value), 6)


def _at(r: VariantResult, batch: int) -> float | None:
    found = [t.rows_per_s() for t in r.throughput if t.batch == batch]
    return _r(found[0]) if found else None


def variants_table(results: list[VariantResult], ref: Reference) -> Table:
    base = results[0]
    rows = []
    for r in results:
        fp = r.footprint
        base_speed = _at(base, ref.reference_batch)
        speed = _at(r, ref.reference_batch)
        rows.append((r.variant.name, "/".join(fp.weight_dtypes), fp.size_bytes, fp.parameters, fp.nonzero,
                     _r(1 - fp.nonzero / max(fp.parameters, 1)), _r(r.latency.quantile(0.5) * 1000),
                     _r(r.latency.quantile(0.95) * 1000), speed,
                     _r(speed / base_speed) if speed and base_speed else None,
                     r.peak_memory if r.variant.runtime == "torch" else None,
                     _r((r.pred == ref.y_test).mean()), _r(r.first_call_s), r.variant.how))
    return Table("variants", "Compressed variants: footprint, speed and accuracy",
                 ("variant", "weights", "size_bytes", "parameters", "nonzero", "sparsity", "latency_p50_ms",
                  "latency_p95_ms", f"rows_per_s@{ref.reference_batch}", "speedup", "peak_memory_bytes",
                  "accuracy", "first_call_s", "how"), tuple(rows),
                 caption="Timings are medians of repeated calls after warm-up; first_call_s includes any "
                         "compilation. Sizes are dense state dicts: pruning zeros do not shrink them.")


def fairness_table(fairness: dict[str, list[FairnessChange]]) -> Table | None:
    rows = []
    for name, found in fairness.items():
        for c in found:
            rows.append((name, c.attribute, _r(c.base[0]), _r(c.variant[0]), _r(c.variant[0] - c.base[0]),
                         _r(c.base[1]), _r(c.variant[1]), _r(c.variant[1] - c.base[1])))
    if not rows:
        return None
    return Table("fairness_by_variant", "Group fairness of each variant (fairlearn) against fp32",
                 ("variant", "attribute", "dp_fp32", "dp_variant", "dp_change", "eo_fp32", "eo_variant",
                  "eo_change"), tuple(rows),
                 caption="dp: demographic parity difference; eo: equalized odds difference. Compression can "
                         "keep accuracy while hurting under-represented groups (Hooker et al., 2020).")


def throughput_chart(results: list[VariantResult]) -> Chart:
    series = []
    for r in results:
        lo_hi = [t.rows_per_s_spread() for t in r.throughput]
        series.append(Series(r.variant.name, tuple(float(t.batch) for t in r.throughput),
                             tuple(_r(t.rows_per_s()) for t in r.throughput),
                             tuple(_r(lo) for lo, _ in lo_hi), tuple(_r(hi) for _, hi in lo_hi)))
    return Chart("throughput_by_batch", "Throughput by batch size", "line", "batch size", "rows per second",
                 series=tuple(series), log_x=True, log_y=True,
                 caption="Median rows per second; bands span the interquartile range of repeated calls.")


def change_chart(results: list[VariantResult], ref: Reference, fairness: dict[str, list[FairnessChange]]) -> Chart:
    others = results[1:]
    x = tuple(float(i + 1) for i in range(len(others)))
    drops = tuple(_r((results[0].pred == ref.y_test).mean() - (r.pred == ref.y_test).mean()) for r in others)
    series = [Series("accuracy drop", x, drops)]
    found = [fairness.get(r.variant.name, []) for r in others]
    if found and all(found):
        worst = tuple(_r(max(max(c.variant[0] - c.base[0], c.variant[1] - c.base[1]) for c in f)) for f in found)
        series.append(Series("fairness regression", x, worst))
    if results[0].robust_correct is not None:
        series.append(Series("robust accuracy loss", x, tuple(
            _r(results[0].robust_correct.mean() - r.robust_correct.mean()) for r in others)))
    return Chart("change_by_variant", "What each variant loses against fp32", "bar", "variant", "loss vs fp32",
                 series=tuple(series),
                 caption="Bars are variants: " + ", ".join(f"{i + 1}={r.variant.name}" for i, r in enumerate(others))
                         + ". Positive bars are losses (accuracy, fairness gap increase, robustness).")


def notes(results: list[VariantResult], skipped: list[Variant], ref: Reference, conv_layers: int) -> list[str]:
    base = results[0]
    out = []
    for r in results[1:]:
        if _clearly_slower(r, base, ref.reference_batch):
            speed, base_speed = _at(r, ref.reference_batch), _at(base, ref.reference_batch)
            out.append(f"{r.variant.name} is slower than fp32 on this machine: {speed:,.0f} vs {base_speed:,.0f} "
                       f"rows/s in batches of {ref.reference_batch} ({speed / base_speed:.2f}x).")
    names = {r.variant.name for r in results if r.variant.runtime == "torch"}
    if "int8" in names:
        out.append("int8 uses torch.ao.quantization.quantize_dynamic (torchao is not installed)"
                   + (f"; the {conv_layers} convolution layer(s) are not dynamically quantized and stay float32."
                      if conv_layers else "."))
    if "structured50" in names:
        out.append("structured50 zeroes whole units/channels but keeps tensor shapes, so it is not expected to "
                   "run faster; physically removing the units would.")
    if any(r.attack_mode == "transfer from fp32" for r in results):
        transfer = [r.variant.name for r in results if r.attack_mode == "transfer from fp32"]
        out.append(f"Robust accuracy of {', '.join(transfer)} is measured on PGD examples crafted against fp32 "
                   "(no gradients through the variant): a transfer attack, weaker than a white-box one.")
    out += [f"{v.name} was not measured: {v.skipped}" for v in skipped]
    if any(r.variant.runtime == "onnxruntime" for r in results):
        out.append("ONNX variants ran on onnxruntime itself; sizes are the .onnx files; "
                   "peak memory is not measured (onnxruntime allocates outside torch's profiler); robust accuracy "
                   "of the variants needs gradients and is not re-audited (the robustness suite attacks the "
                   "graph black-box).")
    if not ref.binary:
        out.append("Group fairness changes are measured for binary tasks only.")
    elif ref.sensitive.shape[1] == 0:
        out.append("The data has no sensitive attributes, so fairness changes were not measured.")
    return out


def _clearly_slower(r: VariantResult, base: VariantResult, batch: int) -> bool:
    """Slower beyond timing noise: the variant's interquartile range of rows/s lies wholly below fp32's."""
    mine = [t for t in r.throughput if t.batch == batch]
    theirs = [t for t in base.throughput if t.batch == batch]
    return bool(mine and theirs and mine[0].rows_per_s_spread()[1] < theirs[0].rows_per_s_spread()[0])


def conv_layer_count(results: list[VariantResult]) -> int:
    from torch import nn

    module = results[0].variant.module
    return 0 if module is None else int(np.sum([isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in module.modules()]))
