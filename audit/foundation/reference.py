"""The `adult-text-minilm` reference model: serialised Adult rows -> frozen MiniLM -> trained head.

The Dataset's `x` holds the cached sentence embeddings, so the generic suites audit the head unchanged;
`raw["text"]` and `ModelUnderAudit.encoder` let the text suites go back to the words.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from audit.data.types import Dataset, Split
from audit.errors import AuditInputError
from audit.foundation.embeddings import PERTURBED_CACHE_ENTRIES, SHARED, EmbeddingCache, encode_texts
from audit.foundation.loader import LoadedEncoder, load_encoder, minilm_path
from audit.foundation.serialise import serialise_frame
from audit.home import audit_home
from audit.models.types import ModelSource, ModelUnderAudit, Recipe

MODEL_NAME = "adult-text-minilm"
CPU_DEFAULT_SUBSET = 8000  # rows (train + test); enough for stable group metrics, minutes to encode on 2 cores
SENSITIVE = ("sex", "race")
HEAD_RECIPE = Recipe(
    name=MODEL_NAME, dataset="adult-text", architecture="tabular-mlp", arch_kwargs={"hidden": [64]},
    optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=20, batch_size=256, seed=0,
    description="MLP head (64) over frozen all-MiniLM-L6-v2 embeddings of serialised UCI Adult rows",
)
Progress = Callable[[int, int], None]


def default_subset(device: str) -> int | None:
    """Rows to use: $AUDIT_TEXT_SUBSET if set ("all" for every row), else 8,000 on CPU and all on a GPU."""
    configured = os.environ.get("AUDIT_TEXT_SUBSET")
    if configured:
        return None if configured == "all" else int(configured)
    return None if device.startswith("cuda") else CPU_DEFAULT_SUBSET


def default_finetune() -> bool:
    """$AUDIT_TEXT_FINETUNE=1 also trains the encoder end to end (meant for a GPU; frozen by default)."""
    return os.environ.get("AUDIT_TEXT_FINETUNE", "").strip().lower() in ("1", "true", "yes")


def subset_splits(train: Split, test: Split, subset: int | None, seed: int) -> tuple[Split, Split]:
    """A seeded sample of `subset` rows, keeping the train/test proportion; all rows when None."""
    total = len(train) + len(test)
    if subset is None or subset >= total:
        return train, test
    if subset < 20:
        raise AuditInputError(f"text subset of {subset} rows is too small; use at least a few thousand")
    rng = np.random.default_rng([seed, 7])
    n_train = round(subset * len(train) / total)
    pick = [np.sort(rng.choice(len(s), size=n, replace=False)) for s, n in ((train, n_train), (test, subset - n_train))]
    return train.subset(torch.as_tensor(pick[0])), test.subset(torch.as_tensor(pick[1]))


def _text_split(split: Split, embeddings: torch.Tensor, texts: list[str]) -> Split:
    assert split.raw is not None
    raw = split.raw.copy()
    raw.insert(0, "text", texts)
    return Split(x=embeddings, y=split.y, sensitive=split.sensitive[list(SENSITIVE)].copy(), raw=raw)


def _embed(encoder: LoadedEncoder, texts: list[str], home: Path, bf16: bool, progress: Progress | None) -> torch.Tensor:
    cache = EmbeddingCache(home, encoder.encoder_id + ("-bf16" if bf16 else ""))
    return cache.get_or_encode(texts, lambda todo: encode_texts(encoder.module, todo, bf16=bf16, progress=progress))


def _cache_perturbed_texts(encoder: LoadedEncoder, home: Path, bf16: bool) -> None:
    """The text suites' swapped, misspelt and occluded descriptions are cached on disk beside the data's own."""
    cache_id = encoder.encoder_id + ("-bf16" if bf16 else "") + "-texts"
    SHARED.attach(encoder.module, bf16, EmbeddingCache(home, cache_id, max_entries=PERTURBED_CACHE_ENTRIES))


def build_text_reference(
    train: Split, test: Split, encoder: LoadedEncoder, home: Path, device: str = "cpu", seed: int = 0,
    finetune: bool = False, name: str = MODEL_NAME, progress: Progress | None = None,
    head_recipe: Recipe = HEAD_RECIPE,
) -> tuple[ModelUnderAudit, Dataset]:
    """Serialise, embed (cached), train the head by its recipe, and wrap model and data."""
    from audit.models.architectures import build
    from audit.models.training import train_model

    texts = {"train": serialise_frame(train.raw), "test": serialise_frame(test.raw)}
    bf16 = device.startswith("cuda")
    recipe = dataclasses.replace(
        head_recipe, name=name, seed=seed,
        arch_kwargs={**head_recipe.arch_kwargs, "in_features": encoder.dimension, "n_classes": 2},
    )
    if finetune:
        from audit.foundation.finetune import finetune as run_finetune

        head = build(recipe.architecture, **recipe.arch_kwargs)
        run_finetune(encoder.module, head, texts["train"], train.y, device, seed=seed)
        encoder = dataclasses.replace(encoder, sha256=_finetuned_id(encoder, train, seed))
        recipe = dataclasses.replace(recipe, description=recipe.description.replace("frozen", "fine-tuned"))
    x_train = _embed(encoder, texts["train"], home, bf16, progress)
    x_test = _embed(encoder, texts["test"], home, bf16, progress)
    _cache_perturbed_texts(encoder, home, bf16)
    data = _dataset(_text_split(train, x_train, texts["train"]), _text_split(test, x_test, texts["test"]), encoder)
    if not finetune:
        head = train_model(recipe, data.train)
    model = ModelUnderAudit(
        name=name, module=head.to(device).eval(), task="binary", n_classes=2, input_kind="text",
        input_shape=(encoder.dimension,), outputs="logits", device=device,
        capabilities=frozenset({"gradients", "logits", "recipe"}),
        source=ModelSource(kind="foundation", ref=str(encoder.path), sha256=encoder.sha256),
        recipe=recipe, encoder=encoder.module.to(device),
    )
    return model, data


def _finetuned_id(encoder: LoadedEncoder, train: Split, seed: int) -> str:
    digest = hashlib.sha256(encoder.sha256.encode())
    for p in encoder.module.state_dict().values():
        digest.update(p.detach().float().cpu().numpy().tobytes())
    digest.update(f"{len(train)}:{seed}".encode())
    return digest.hexdigest()


def _dataset(train: Split, test: Split, encoder: LoadedEncoder) -> Dataset:
    digest = hashlib.sha256(encoder.sha256.encode())
    for split in (train, test):
        digest.update("\n".join(split.raw["text"]).encode())
        digest.update(split.y.numpy().tobytes())
    return Dataset(
        name="adult-text", task="binary", class_names=("<=50K", ">50K"), input_kind="text",
        feature_names=tuple(f"embedding[{i}]" for i in range(encoder.dimension)), features=(),
        sensitive_attributes=SENSITIVE, train=train, test=test,
        source=f"UCI Adult (bundled) serialised to English, embedded by {encoder.encoder_id}",
        sha256=digest.hexdigest(), positive_class=1,
    )


def load_text_reference(
    device: str = "cpu", home: Path | None = None, subset: int | None = None, seed: int = 0,
    encoder_folder: Path | None = None, finetune: bool | None = None, progress: Progress | None = None,
) -> tuple[ModelUnderAudit, Dataset]:
    """Build `adult-text-minilm`: a seeded Adult subset (8,000 rows on CPU, all on a GPU by default)."""
    from audit.data.reference import load_reference

    adult = load_reference("adult")
    assert adult.train is not None
    rows = subset if subset is not None else default_subset(device)
    train, test = subset_splits(adult.train, adult.test, rows, seed)
    encoder = load_encoder(encoder_folder or minilm_path(), device=device)
    tune = default_finetune() if finetune is None else finetune
    return build_text_reference(train, test, encoder, audit_home(home), device, seed, tune, progress=progress)
