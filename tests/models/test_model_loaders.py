"""User model loading: every format, the safety refusals, and validation against the data."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from audit.errors import AuditInputError
from audit.models.device import resolve_device
from audit.models.loaders import _weights_only_everywhere, load_user_model
from audit.testing import synthetic_tabular, tabular_model

HIDDEN = [16]


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=300)


@pytest.fixture(scope="module")
def reference(data):
    return tabular_model(data, epochs=20)


def _kwargs(data):
    return {"in_features": len(data.feature_names), "n_classes": 2, "hidden": HIDDEN}


def _same_predictions(model, reference, data):
    np.testing.assert_allclose(model.predict_proba(data.test.x), reference.predict_proba(data.test.x), atol=1e-6)


def test_torch_export_program(tmp_path, data, reference):
    program = torch.export.export(reference.module, (data.test.x[:4],),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "model.pt2"
    torch.export.save(program, path)
    model = load_user_model(path, data=data, device="cpu")
    _same_predictions(model, reference, data)
    assert model.source.kind == "export" and model.capabilities >= {"gradients", "logits", "torch", "queries"}
    assert model.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_with_fixed_batch_explains_itself(tmp_path, data, reference):
    path = tmp_path / "fixed.pt2"
    torch.export.save(torch.export.export(reference.module, (data.test.x[:4],)), path)
    with pytest.raises(AuditInputError, match="dynamic batch dimension"):
        load_user_model(path, data=data, device="cpu")


@pytest.mark.parametrize("arch", ["tabular-mlp", "audit.models.architectures:TabularMLP"])
def test_safetensors_with_named_architecture(tmp_path, data, reference, arch):
    path = tmp_path / "weights.safetensors"
    save_file(reference.module.state_dict(), path)
    model = load_user_model(path, data=data, arch=arch, arch_kwargs=_kwargs(data), device="cpu")
    _same_predictions(model, reference, data)
    assert model.source.kind == "safetensors"


def test_weights_need_a_matching_architecture(tmp_path, data, reference):
    path = tmp_path / "weights.safetensors"
    save_file(reference.module.state_dict(), path)
    with pytest.raises(AuditInputError, match="--arch"):
        load_user_model(path, data=data, device="cpu")
    with pytest.raises(AuditInputError, match="do not fit"):
        load_user_model(path, data=data, arch="tabular-mlp", arch_kwargs={**_kwargs(data), "hidden": [8]}, device="cpu")
    with pytest.raises(AuditInputError, match="package.module:ClassName"):
        load_user_model(path, data=data, arch="NoSuchThing", device="cpu")


def test_state_dict_pt(tmp_path, data, reference):
    path = tmp_path / "state.pt"
    torch.save(reference.module.state_dict(), path)
    model = load_user_model(path, data=data, arch="tabular-mlp", arch_kwargs=_kwargs(data), device="cpu")
    _same_predictions(model, reference, data)
    assert model.source.kind == "state-dict"


def test_pickled_module_is_refused(tmp_path, data, reference):
    path = tmp_path / "whole.pt"
    torch.save(reference.module, path)
    with pytest.raises(AuditInputError, match="pickled Python object.*torch.export"):
        load_user_model(path, data=data, device="cpu")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated; users still have such files
def test_torchscript_needs_the_unsafe_flag(tmp_path, data, reference):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(reference.module), path)
    with pytest.raises(AuditInputError, match="TorchScript.*--allow-unsafe-load"):
        load_user_model(path, data=data, device="cpu")
    model = load_user_model(path, data=data, allow_unsafe_load=True, device="cpu")
    _same_predictions(model, reference, data)
    assert model.source.kind == "torchscript"


def test_weights_only_guard_blocks_arbitrary_pickles(tmp_path, reference):
    path = tmp_path / "whole.pt"
    torch.save(reference.module, path)
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    with _weights_only_everywhere(), pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(path, weights_only=False)  # what torch.export.load does internally for pickled weights
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") == before


def _save_module(tmp_path, module: nn.Module):
    path = tmp_path / "m.pt"
    torch.save(module.state_dict(), path)
    return path


class _Sigmoid(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.linear = nn.Linear(d, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


class _Softmax(nn.Module):
    def __init__(self, d: int, k: int = 2):
        super().__init__()
        self.linear = nn.Linear(d, k)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


def _load_class(tmp_path, data, module, cls_path):
    path = _save_module(tmp_path, module)
    return load_user_model(path, data=data, arch=cls_path, arch_kwargs={"d": len(data.feature_names)}, device="cpu")


def test_single_logit_binary_model_is_wrapped(tmp_path, data):
    torch.manual_seed(0)
    linear = nn.Linear(len(data.feature_names), 1)
    path = tmp_path / "logit.pt"
    torch.save(linear.state_dict(), path)
    model = load_user_model(path, data=data, arch="torch.nn:Linear",
                            arch_kwargs={"in_features": len(data.feature_names), "out_features": 1}, device="cpu")
    z = linear(data.test.x).detach().double().numpy()[:, 0]
    np.testing.assert_allclose(model.predict_proba(data.test.x)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-5)
    assert model.outputs == "logits" and model.scores(data.test.x).shape[1] == 2


def test_probability_outputs_are_detected(tmp_path, data):
    torch.manual_seed(0)
    for module in (_Sigmoid(len(data.feature_names)), _Softmax(len(data.feature_names))):
        model = _load_class(tmp_path, data, module, f"{__name__}:{type(module).__name__}")
        assert model.outputs == "probabilities" and "logits" not in model.capabilities
        np.testing.assert_allclose(model.predict_proba(data.test.x).sum(axis=1), 1.0, atol=1e-6)


def test_shape_and_class_mismatches(tmp_path, data):
    wrong_width = nn.Linear(len(data.feature_names) + 3, 2)
    path = _save_module(tmp_path, wrong_width)
    kwargs = {"in_features": len(data.feature_names) + 3, "out_features": 2}
    with pytest.raises(AuditInputError, match=r"shape \(120, 7\).*expects \(batch, 10\)"):
        load_user_model(path, data=data, arch="torch.nn:Linear", arch_kwargs=kwargs, device="cpu")
    path = _save_module(tmp_path, nn.Linear(len(data.feature_names), 3))
    kwargs = {"in_features": len(data.feature_names), "out_features": 3}
    with pytest.raises(AuditInputError, match="2 classes"):
        load_user_model(path, data=data, arch="torch.nn:Linear", arch_kwargs=kwargs, device="cpu")


def test_unknown_format_and_missing_file(tmp_path, data):
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(AuditInputError, match="Unsupported model file"):
        load_user_model(tmp_path / "m.onnx", data=data, device="cpu")
    with pytest.raises(AuditInputError, match="does not exist"):
        load_user_model(tmp_path / "none.pt2", data=data, device="cpu")


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(AuditInputError, match="Unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(AuditInputError, match="no CUDA GPU"):
            resolve_device("cuda")
