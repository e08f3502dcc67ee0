"""Damaged or mislabelled model files and bad --arch-kwargs: one AuditInputError, nothing printed by torch."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from audit.errors import AuditInputError
from audit.models.architectures import build
from audit.models.loaders import load_user_model
from audit.testing import synthetic_tabular


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=120)


@pytest.fixture(scope="module")
def state_dict_bytes(tmp_path_factory, data) -> bytes:
    path = tmp_path_factory.mktemp("sd") / "state.pt"
    torch.save(nn.Linear(data.test.x.shape[1], 2).state_dict(), path)
    return path.read_bytes()


def _random_bytes() -> bytes:
    return np.random.default_rng(0).bytes(4096)


def _load_refused(path, data, capfd, match: str, **kwargs) -> str:
    with pytest.raises(AuditInputError, match=match) as caught:
        load_user_model(path, data=data, device="cpu", **kwargs)
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"torch printed while loading: {err[:300]}"
    return str(caught.value)


@pytest.mark.parametrize("name, content, match", [
    ("empty.pt", lambda sd: b"", "empty file"),
    ("truncated.pt", lambda sd: sd[: len(sd) // 2], "truncated or damaged zip"),
    ("random.pt", lambda sd: _random_bytes(), "not a PyTorch file"),
])
def test_damaged_state_dict_files(tmp_path, data, capfd, state_dict_bytes, name, content, match):
    path = tmp_path / name
    path.write_bytes(content(state_dict_bytes))
    message = _load_refused(path, data, capfd, match, arch="torch.nn:Linear",
                            arch_kwargs={"in_features": data.test.x.shape[1], "out_features": 2})
    assert "pickled" not in message  # random bytes are not "a pickled object"
    assert "torch.save(model.state_dict()" in message


def _torchscript(path, width):
    with pytest.warns(DeprecationWarning):
        torch.jit.save(torch.jit.script(nn.Linear(width, 2)), path)


def _state_dict(path, width):
    torch.save(nn.Linear(width, 2).state_dict(), path)


@pytest.mark.parametrize("write, match", [
    (_torchscript, "TorchScript archive, not a torch.export archive.*--allow-unsafe-load"),
    (_state_dict, "torch.save file.*not a torch.export archive.*--arch"),
    (lambda path, width: path.write_bytes(_random_bytes()), "not a PyTorch file"),
    (lambda path, width: path.write_bytes(b""), "empty file"),
    (lambda path, width: path.write_bytes(b"PK\x03\x04" + _random_bytes()), "truncated or damaged zip"),
])
def test_files_that_are_not_export_archives_named_pt2(tmp_path, data, capfd, write, match):
    path = tmp_path / "model.pt2"
    write(path, data.test.x.shape[1])
    capfd.readouterr()
    message = _load_refused(path, data, capfd, match)
    assert "torch.export.save" in message  # says how to export a clean file


def test_whole_pickled_module_is_still_named_as_such(tmp_path, data, capfd):
    path = tmp_path / "whole.pt"
    torch.save(nn.Linear(data.test.x.shape[1], 2), path)
    _load_refused(path, data, capfd, "pickled Python object")


def test_state_dict_zip_bomb_is_refused(tmp_path, data, capfd, state_dict_bytes):
    path = tmp_path / "bomb.pt"
    path.write_bytes(state_dict_bytes)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(archive.namelist()[0].split("/")[0] + "/data/99", bytes(48 << 20))
    _load_refused(path, data, capfd, "zip bomb", arch="torch.nn:Linear",
                  arch_kwargs={"in_features": data.test.x.shape[1], "out_features": 2})


@pytest.mark.parametrize("kwargs, match", [
    ({}, "needs 'in_features'.*Allowed"),
    ({"in_features": 7, "width": 3}, "takes no 'width'.*Allowed --arch-kwargs: in_features"),
    ({"in_features": "7"}, r"in_features='7'.*must be an integer"),
    ({"in_features": -7}, r"in_features=-7.*must be an integer in \[1,"),
    ({"in_features": True}, "in_features=True"),
    ({"in_features": 7, "hidden": [8, -1]}, r"hidden=\[8, -1\].*list of one or more integers"),
    ({"in_features": 7, "hidden": "64"}, "hidden='64'"),
    ({"in_features": 7, "n_classes": 1}, r"n_classes=1.*integer in \[2,"),
    ({"in_features": 7, "dropout": 1.5}, r"dropout=1.5.*\[0, 1\)"),
    ({"in_features": 10**12}, "must be an integer in"),
])
def test_builtin_architecture_kwargs_are_validated(kwargs, match):
    with pytest.raises(AuditInputError, match=match):
        build("tabular-mlp", **kwargs)


def test_builtin_architecture_kwargs_through_the_loader(tmp_path, data):
    width = data.test.x.shape[1]
    path = tmp_path / "w.safetensors"
    save_file(build("tabular-mlp", in_features=width, hidden=[4]).state_dict(), path)
    with pytest.raises(AuditInputError, match="mnist-cnn.*channels"):
        load_user_model(path, data=data, arch="mnist-cnn", arch_kwargs={"channels": [4, -4]}, device="cpu")
    with pytest.raises(AuditInputError, match="needs 'in_features'"):
        load_user_model(path, data=data, arch="tabular-mlp", arch_kwargs={"hidden": [4]}, device="cpu")
    model = load_user_model(path, data=data, arch="tabular-mlp", arch_kwargs={"in_features": width, "hidden": [4]},
                            device="cpu")
    assert model.source.kind == "safetensors"


def test_user_class_constructor_errors_are_input_errors(tmp_path, data):
    path = tmp_path / "w.pt"
    torch.save(nn.Linear(data.test.x.shape[1], 2).state_dict(), path)
    with pytest.raises(AuditInputError, match="Cannot construct torch.nn:Linear"):
        load_user_model(path, data=data, arch="torch.nn:Linear", arch_kwargs={"in_features": -3, "out_features": 2},
                        device="cpu")


def test_damaged_torchscript_with_unsafe_load_is_an_input_error(tmp_path, data, capfd):
    path = tmp_path / "scripted.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("scripted/code/__torch__.py", "def broken(:\n")
    _load_refused(path, data, capfd, "Could not load TorchScript archive", allow_unsafe_load=True)


class _FailsWithoutMessage(nn.Module):
    def forward(self, x):
        raise KeyError  # neither a RuntimeError nor a message


@pytest.mark.parametrize("arch", ["torch.nn:Module", f"{__name__}:_FailsWithoutMessage"])
def test_any_failure_on_the_probe_batch_is_an_input_error(tmp_path, data, arch):
    """nn.Module itself has no forward (NotImplementedError); an empty message must not break the report."""
    path = tmp_path / "empty_state.pt"
    torch.save({}, path)
    with pytest.raises(AuditInputError, match="The model failed on inputs of shape"):
        load_user_model(path, data=data, arch=arch, device="cpu")


DAMAGED_DIRECTORY = bytes(100) + b"PK\x05\x06" + bytes(4) + b"\x05\x00\x05\x00" + (999).to_bytes(4, "little") \
    + (50).to_bytes(4, "little") + bytes(2)  # an end record pointing at a directory that is not there


@pytest.mark.parametrize("name", ["damaged.pt", "damaged.pt2"])
def test_zip_with_a_damaged_directory(tmp_path, data, capfd, name):
    path = tmp_path / name
    path.write_bytes(DAMAGED_DIRECTORY)
    assert zipfile.is_zipfile(path)  # the end record is there; the directory it points to is not
    _load_refused(path, data, capfd, "truncated or damaged zip", arch="tabular-mlp",
                  arch_kwargs={"in_features": data.test.x.shape[1]})


@pytest.mark.parametrize("arch", ["tabular-mlp", "torch.nn:Linear"])
def test_arch_kwargs_that_are_not_an_object(tmp_path, data, arch):
    path = tmp_path / "w.pt"
    torch.save(nn.Linear(data.test.x.shape[1], 2).state_dict(), path)
    with pytest.raises(AuditInputError, match="--arch-kwargs must be a JSON object"):
        load_user_model(path, data=data, arch=arch, arch_kwargs=[7, 2], device="cpu")
