"""Efficiency of an ONNX graph: measured on onnxruntime, with onnxruntime's own int8 as the variant."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score

from audit.suites.efficiency import EfficiencySuite
from audit.suites.efficiency.suite import QUICK
from audit.testing import synthetic_tabular, tabular_model
from tests.suites.robustness_helpers import context

onnxruntime = pytest.importorskip("onnxruntime")


def export_onnx(module: torch.nn.Module, n_features: int, path) -> None:
    torch.onnx.export(  # the legacy exporter: the dynamo one needs onnxscript
        module.eval(), (torch.zeros(4, n_features),), str(path), input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}}, dynamo=False)


@pytest.fixture(scope="module")
def onnx_audit(tmp_path_factory):
    from audit.models.onnx_model import load_onnx_model

    data = synthetic_tabular(400)
    path = tmp_path_factory.mktemp("onnx") / "mlp.onnx"
    export_onnx(tabular_model(data, epochs=30).module, data.test.x.shape[1], path)
    return load_onnx_model(path, data), data, path


def _ort_predict(path, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.astype(np.float32)})[0].argmax(axis=1)


def test_onnx_graph_is_timed_on_onnxruntime_with_its_int8_variant(onnx_audit, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model, data, path = onnx_audit
    params = dataclasses.replace(QUICK, batch_sizes=(1, 64), reference_batch=64, bootstrap_resamples=50)
    ctx = dataclasses.replace(context(model, data), cache_dir=tmp_path / "not-yet-created")
    out = EfficiencySuite().run(ctx, params)
    by_name = {m.name: m for m in out.measurements}
    x, y = data.test.x.numpy(), data.test.y.numpy()
    assert by_name["accuracy[fp32]"].value == pytest.approx(accuracy_score(y, _ort_predict(path, x)))
    quantize_dynamic(str(path), str(tmp_path / "q.onnx"), weight_type=QuantType.QInt8)  # independently, here
    assert by_name["accuracy[int8]"].value == pytest.approx(accuracy_score(y, _ort_predict(tmp_path / "q.onnx", x)))
    assert by_name["size_bytes[fp32]"].value == path.stat().st_size
    assert by_name["size_bytes[int8]"].details["runtime"] == "onnxruntime"
    assert {"latency_p50_ms[int8]", "throughput_rows_per_s[fp32,batch=64]", "accuracy_drop[deployable]"} <= set(by_name)
    assert not any(n.startswith(("peak_memory", "robust_accuracy")) for n in by_name)  # not measured, not invented
    assert any("onnxruntime" in n and "peak memory is not measured" in n for n in out.notes)
    assert not any("torch.ao.quantization" in n for n in out.notes)
