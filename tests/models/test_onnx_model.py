"""ONNX models: outputs read as logits or probabilities (and said so), inputs checked against the data, and only
self-contained graphs of standard operators accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from model_kinds import FEATURES, save_onnx, small_mlp, write_table
from onnx import TensorProto, helper

from audit.data.user import load_user_data
from audit.errors import AuditInputError
from audit.models.onnx_model import load_onnx_model


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, pd.DataFrame, torch.nn.Module]:
    root = tmp_path_factory.mktemp("onnx")
    frame = write_table(root / "d.csv")
    return root, frame, small_mlp(frame)


def _data(root: Path, features: tuple[str, ...] = FEATURES):
    return load_user_data(root / "d.csv", label="y", sensitive=("group",), features=features)


def test_logits_graph_matches_the_torch_model(workspace) -> None:
    root, frame, mlp = workspace
    model = load_onnx_model(save_onnx(mlp, root / "logits.onnx"), _data(root))
    data = _data(root)
    assert model.outputs == "logits" and "read as logits" in model.description
    assert model.capabilities == {"predict", "predict_proba", "score", "queries", "logits"}
    with torch.no_grad():
        expected = torch.softmax(mlp(data.test.x), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(data.test.x), expected, atol=1e-5)


def test_softmax_graph_is_read_as_probabilities(workspace) -> None:
    root, _, mlp = workspace
    model = load_onnx_model(save_onnx(mlp, root / "proba.onnx", softmax=True), _data(root))
    assert model.outputs == "probabilities" and "logits" not in model.capabilities
    assert "sum to 1" in model.description


def test_input_width_mismatch_names_both_shapes(workspace) -> None:
    root, _, mlp = workspace
    save_onnx(mlp, root / "logits.onnx")
    with pytest.raises(AuditInputError, match=r"input 'features' of shape \(batch, 4\).*rows of shape \(3,\)"):
        load_onnx_model(root / "logits.onnx", _data(root, ("a", "b", "c")))


def _graph(path: Path, domain: str = "", external: bool = False) -> Path:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], np.ones(8, np.float32).tobytes(), raw=True)
    node = helper.make_node("MatMul", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [weight])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    if external:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin",
                  size_threshold=0)
    else:
        onnx.save(model, str(path))
    return path


def test_custom_operator_domains_and_external_data_are_refused(workspace) -> None:
    root, _, _ = workspace
    with pytest.raises(AuditInputError, match="operator domain.*com.evil"):
        load_onnx_model(_graph(root / "custom.onnx", domain="com.evil"), _data(root))
    with pytest.raises(AuditInputError, match="external files"):
        load_onnx_model(_graph(root / "external.onnx", external=True), _data(root))
    assert load_onnx_model(_graph(root / "plain.onnx"), _data(root)).outputs == "logits"


def test_a_damaged_file_is_an_input_error(workspace) -> None:
    root, _, _ = workspace
    (root / "bad.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(AuditInputError, match="bad.onnx"):
        load_onnx_model(root / "bad.onnx", _data(root))
