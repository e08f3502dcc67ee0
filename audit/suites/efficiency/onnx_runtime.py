"""Variants of an ONNX model, measured on onnxruntime itself: the graph as given and onnxruntime's own int8.

The int8 variant is `onnxruntime.quantization.quantize_dynamic` (int8 weights, activations quantised per batch at
run time) written to a temporary file and run in a fresh session with the same input, output and binary reading
as the audited graph. Sizes are the bytes of the .onnx files; parameters are the elements of the graph's
initializers. onnxruntime allocates outside torch, so its peak memory is not measured (the report says so).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

from audit.models.types import ModelUnderAudit, QueryOnlyModule
from audit.suites.efficiency.footprint import Footprint
from audit.suites.efficiency.variants import Variant

ONNX_VARIANTS = ("fp32", "int8")
QUANTIZE_API = "onnxruntime.quantization.quantize_dynamic (QInt8 weights; activations quantised per batch)"


def is_onnx_graph(model: ModelUnderAudit) -> bool:
    return model.source.kind == "onnx" and model.backend is not None and hasattr(model.backend, "session")


def onnx_footprint(path: Path) -> Footprint:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    arrays = [numpy_helper.to_array(t) for t in graph.initializer]
    return Footprint(
        size_bytes=path.stat().st_size, parameters=int(sum(a.size for a in arrays)),
        nonzero=int(sum(np.count_nonzero(a) for a in arrays)),
        weight_dtypes=tuple(sorted({str(a.dtype) for a in arrays if a.ndim > 1})),
    )


def build_onnx_variant(name: str, model: ModelUnderAudit, workdir: Path) -> Variant:
    """`fp32`: the audited session; `int8`: onnxruntime's dynamic quantisation; anything else is skipped."""
    source = Path(model.source.ref)
    provider = model.backend.session.get_providers()[0]  # type: ignore[union-attr]
    if name == "fp32":
        return Variant("fp32", model.module, f"the ONNX graph as given, on onnxruntime {provider}",
                       differentiable=False, footprint=onnx_footprint(source), runtime="onnxruntime")
    if name != "int8":
        return Variant(name, None, "torch variants", skipped="it is built from a torch module; an ONNX graph gets "
                       "onnxruntime's int8 variant instead (audit the torch model to measure it)")
    return _int8(model, source, workdir)


def _int8(model: ModelUnderAudit, source: Path, workdir: Path) -> Variant:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from audit.models.onnx_model import OnnxBackend, open_session

    target = workdir / "efficiency-onnx" / f"{source.stem}.int8.onnx"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _quiet():
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        base = model.backend
        backend = OnnxBackend(open_session(target, model.device), base.spec, base.output, base.binary_wrap)  # type: ignore[union-attr]
    except Exception as error:  # noqa: BLE001 - an unquantisable graph is a skipped variant, with the reason
        return Variant("int8", None, QUANTIZE_API, skipped=f"onnxruntime could not quantise the graph: {error}")
    return Variant("int8", QueryOnlyModule(backend), QUANTIZE_API, differentiable=False,
                   footprint=onnx_footprint(target), runtime="onnxruntime")


@contextlib.contextmanager
def _quiet():
    """quantize_dynamic logs a pre-processing suggestion on the root logger; keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
