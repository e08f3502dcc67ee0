import numpy as np
import pytest
import torch

from audit.errors import AuditInputError
from audit.foundation.reference import default_subset, subset_splits
from audit.foundation.testing import synthetic_adult_splits


def test_subset_is_seeded_and_keeps_the_split_proportion():
    train, test = synthetic_adult_splits(400, seed=0)
    a_train, a_test = subset_splits(train, test, 100, seed=3)
    b_train, b_test = subset_splits(train, test, 100, seed=3)
    assert (len(a_train), len(a_test)) == (60, 40)
    assert a_train.raw.equals(b_train.raw) and torch.equal(a_test.y, b_test.y)
    c_train, _ = subset_splits(train, test, 100, seed=4)
    assert not a_train.raw.equals(c_train.raw)
    assert subset_splits(train, test, None, seed=0)[0] is train
    with pytest.raises(AuditInputError):
        subset_splits(train, test, 5, seed=0)


def test_default_subset_is_8000_on_cpu_and_everything_on_gpu(monkeypatch):
    monkeypatch.delenv("AUDIT_TEXT_SUBSET", raising=False)
    assert default_subset("cpu") == 8000 and default_subset("cuda") is None
    monkeypatch.setenv("AUDIT_TEXT_SUBSET", "all")
    assert default_subset("cpu") is None
    monkeypatch.setenv("AUDIT_TEXT_SUBSET", "3000")
    assert default_subset("cuda") == 3000


def test_text_reference_wraps_head_encoder_and_text(text_home, tiny_folder):
    from audit.foundation.testing import tiny_text_reference
    from audit.models.training import train_model

    model, data = tiny_text_reference(text_home)
    assert data.input_kind == "text" and data.features == () and data.sensitive_attributes == ("sex", "race")
    assert data.train.x.shape == (240, 32) and data.test.x.dtype == torch.float32
    assert data.test.raw["text"].str.contains(r"-year-old").all()
    assert model.encoder is not None and model.capabilities >= {"gradients", "logits", "recipe", "raw"}
    assert model.recipe.arch_kwargs["in_features"] == 32
    # The cached embeddings are the encoder's embeddings of the stored text.
    fresh = model.encoder.encode(list(data.test.raw["text"][:5]), convert_to_tensor=True).float()
    assert torch.allclose(fresh, data.test.x[:5], atol=1e-5)
    # The head is the recipe retrained: privacy's shadow heads use the same path.
    again = train_model(model.recipe, data.train)
    assert np.array_equal(again(data.test.x).argmax(1).numpy(), model.predict(data.test.x))
    assert (model.predict(data.test.x) == data.test.y.numpy()).mean() > 0.55  # learns from the text


def test_finetune_path_runs_on_cpu(text_home, tiny_folder):
    from audit.foundation.loader import load_encoder
    from audit.foundation.reference import build_text_reference

    train, test = synthetic_adult_splits(60, seed=1)
    encoder = load_encoder(tiny_folder)
    before = {k: v.clone() for k, v in encoder.module.state_dict().items()}
    model, data = build_text_reference(train, test, encoder, text_home, finetune=True, name="tiny-finetuned")
    changed = any(not torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
    assert changed and "fine-tuned" in model.recipe.description
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert model.source.sha256 != encoder.sha256  # fine-tuned embeddings are cached under their own id
    assert data.test.x.shape == (24, 32)


def test_real_minilm_reference_builds_through_the_zoo(tmp_path, monkeypatch):
    """`--model adult-text-minilm` end to end with the real MiniLM weights, on 200 rows to stay fast in CI."""
    from sentence_transformers import SentenceTransformer

    from audit.foundation.loader import minilm_path
    from audit.models.zoo import load_zoo_model

    monkeypatch.setenv("AUDIT_TEXT_SUBSET", "200")
    monkeypatch.delenv("AUDIT_TEXT_FINETUNE", raising=False)
    model, data = load_zoo_model("adult-text-minilm", home=tmp_path)
    assert len(data.train) + len(data.test) == 200 and data.test.x.shape[1] == 384
    assert model.source.ref == str(minilm_path()) and model.input_kind == "text"
    # The cached embeddings are what sentence-transformers itself makes of the stored text.
    reference = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    texts = list(data.test.raw["text"][:4])
    assert torch.allclose(reference.encode(texts, convert_to_tensor=True), data.test.x[:4], atol=1e-4)
    again, _ = load_zoo_model("adult-text-minilm", home=tmp_path)  # from the embedding cache
    assert np.array_equal(again.predict(data.test.x), model.predict(data.test.x))
