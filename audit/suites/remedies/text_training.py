"""The three ways of adapting the sentence encoder behind a text model: frozen + head, LoRA (peft), full.

Each returns a `TrainedVariant` whose module maps a list of texts to logits, so the re-audit treats them
alike. Every variant starts from a copy of the audited encoder and a head built from the model's recipe
with the same seed; the audited model itself is never changed.

A finished LoRA or full fine-tune is kept on disk (`TextSettings.cache`), keyed by a SHA-256 of everything that
determines it: the encoder's and the starting head's weights, the training texts and labels, the settings, this
module's training code and the torch / peft versions. A later run with the same key loads it instead of training
again (the same weights: training is seeded and deterministic on a CPU) and says so; its training seconds are those
of the run that trained it. The variant's embeddings of the texts it is audited on are cached beside it.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audit.data.types import Split
from audit.foundation.finetune import encoder_forward, finetune
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.variant import TrainedVariant, count_parameters, timed

LORA_TARGETS = ("query", "value")  # attention projections of BERT-style encoders (Hu et al. 2021)
BATCH = 32
CACHE_KEEP = 6  # fine-tunes kept on disk (a full MiniLM fine-tune is ~90 MB); the least recently used go first
AUDIT_TEXTS_KEPT = 50_000  # embeddings per cached fine-tune of the texts it was audited on


class TextClassifier(nn.Module):
    """Texts -> sentence embeddings (the encoder) -> logits (the head)."""

    def __init__(self, encoder: nn.Module, head: nn.Module, device: str):
        super().__init__()
        self.encoder, self.head, self.device = encoder, head, device

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.head(encoder_forward(self.encoder, texts, self.device))


@dataclass(frozen=True)
class TextSettings:
    epochs: int
    lr: float  # full fine-tuning
    lora_rank: int
    lora_lr: float
    seed: int
    device: str
    cache: Path | None = None  # folder of finished fine-tunes (None: always train)


def embed(encoder: nn.Module, texts: Sequence[str], device: str) -> torch.Tensor:
    with torch.no_grad():
        encoder.eval()
        return torch.cat([encoder_forward(encoder, texts[i : i + BATCH], device).float().cpu()
                          for i in range(0, len(texts), BATCH)])


def _head_recipe(recipe: Recipe, dimension: int) -> Recipe:
    return dataclasses.replace(recipe, arch_kwargs={**recipe.arch_kwargs, "in_features": dimension, "n_classes": 2})


Embed = Callable[[Sequence[str]], torch.Tensor]


def frozen(encoder: nn.Module, recipe: Recipe, train: Split, texts: Sequence[str], s: TextSettings,
           embeddings: Embed | None = None) -> TrainedVariant:
    """`embeddings`: the audited encoder's sentence embeddings of given texts, where the caller keeps them (the frozen
    copy's are the same); by default the copy encodes them."""
    enc = copy.deepcopy(encoder).to(s.device)

    def fit() -> nn.Module:
        x = embed(enc, texts, s.device) if embeddings is None else embeddings(texts)
        head_recipe = dataclasses.replace(_head_recipe(recipe, x.shape[1]), batch_size=BATCH)
        return train_model(head_recipe, Split(x=x, y=train.y, sensitive=train.sensitive))

    head, seconds = timed(fit)
    return _variant("foundation.frozen", enc, head, seconds, s.device,
                    f"encoder frozen; the recipe's head ({recipe.architecture}, hidden "
                    f"{dict(recipe.arch_kwargs).get('hidden')}) trained on its embeddings for {recipe.epochs} "
                    f"epochs in batches of {BATCH}",
                    {"method": "frozen encoder + head"})


def full(encoder: nn.Module, probe: nn.Module, train: Split, texts: Sequence[str], s: TextSettings) -> TrainedVariant:
    """Starts from the frozen variant's head (linear probing, then fine-tuning: Kumar et al. 2022)."""
    enc = copy.deepcopy(encoder).to(s.device)

    def fit() -> nn.Module:
        head = copy.deepcopy(probe)
        finetune(enc, head, list(texts), train.y, s.device, epochs=s.epochs, lr=s.lr, batch_size=BATCH, seed=s.seed)
        return head

    def frozen_again() -> None:
        enc.eval()
        for p in enc.parameters():
            p.requires_grad_(False)

    key = _key("full", encoder, probe, texts, train.y, s)
    head, seconds, reused = _trained_or_cached(s.cache, key, enc, probe, fit, lambda name: True, frozen_again)
    return _variant("foundation.full", enc, head, seconds, s.device,
                    f"every encoder and head parameter trained end to end from the frozen variant's head "
                    f"(AdamW, lr {s.lr:g}, {s.epochs} epoch(s), batches of {BATCH}, "
                    f"{_steps(len(texts), s.epochs)} steps)" + _reused_words(reused),
                    {"method": "full fine-tuning", "epochs": s.epochs, "lr": s.lr,
                     "steps": _steps(len(texts), s.epochs), "training_rows": len(texts), **_cache_details(reused, key)},
                    trainable=count_parameters(enc) + count_parameters(head), cache_id=_cache_id(s.cache, key))


def lora(encoder: nn.Module, probe: nn.Module, train: Split, texts: Sequence[str], s: TextSettings) -> TrainedVariant:
    """Starts from the frozen variant's head, like `full`."""
    from peft import LoraConfig, inject_adapter_in_model

    enc = copy.deepcopy(encoder).to(s.device)
    config = LoraConfig(r=s.lora_rank, lora_alpha=2 * s.lora_rank, lora_dropout=0.0,
                        target_modules=list(LORA_TARGETS))
    torch.manual_seed(s.seed)
    enc = inject_adapter_in_model(config, enc)
    for name, p in enc.named_parameters():
        p.requires_grad_("lora_" in name)
    adapters = [p for p in enc.parameters() if p.requires_grad]

    def fit() -> nn.Module:
        head = copy.deepcopy(probe)
        _train_end_to_end(enc, head, adapters, texts, train.y, s)
        return head

    def frozen_again() -> None:
        enc.eval()
        for p in adapters:
            p.requires_grad_(False)

    key = _key("lora", encoder, probe, texts, train.y, s)
    head, seconds, reused = _trained_or_cached(s.cache, key, enc, probe, fit, lambda name: "lora_" in name,
                                               frozen_again)
    return _variant("foundation.lora", enc, head, seconds, s.device,
                    f"LoRA adapters (peft, rank {s.lora_rank}, α {2 * s.lora_rank}) on the attention "
                    f"{'/'.join(LORA_TARGETS)} projections plus the frozen variant's head, trained end to end "
                    f"(AdamW, lr {s.lora_lr:g}, {s.epochs} epoch(s), batches of {BATCH}, "
                    f"{_steps(len(texts), s.epochs)} steps); the encoder's own weights stay frozen"
                    + _reused_words(reused),
                    {"method": "LoRA", "rank": s.lora_rank, "targets": list(LORA_TARGETS), "lr": s.lora_lr,
                     "epochs": s.epochs, "steps": _steps(len(texts), s.epochs), "training_rows": len(texts),
                     **_cache_details(reused, key)},
                    trainable=sum(p.numel() for p in adapters) + count_parameters(head),
                    cache_id=_cache_id(s.cache, key))


def _train_end_to_end(enc: nn.Module, head: nn.Module, adapters: list[nn.Parameter], texts: Sequence[str],
                      labels: torch.Tensor, s: TextSettings) -> None:
    head.to(s.device).train()
    enc.train()
    optimizer = torch.optim.AdamW([*adapters, *head.parameters()], lr=s.lora_lr)
    order = torch.Generator().manual_seed(s.seed)
    for _ in range(s.epochs):
        permutation = torch.randperm(len(texts), generator=order)
        for start in range(0, len(texts), BATCH):
            batch = permutation[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            logits = head(encoder_forward(enc, [texts[i] for i in batch], s.device))
            nn.functional.cross_entropy(logits.float(), labels[batch].to(s.device)).backward()
            optimizer.step()
    enc.eval()
    head.eval()
    for p in adapters:
        p.requires_grad_(False)


def _variant(name: str, enc: nn.Module, head: nn.Module, seconds: float, device: str, how: str, details: dict,
             trainable: int | None = None, cache_id: str | None = None) -> TrainedVariant:
    module = TextClassifier(enc, head.to(device).eval(), device)
    return TrainedVariant(name, module, how, seconds,
                          count_parameters(head) if trainable is None else trainable, count_parameters(module),
                          details={**details, **({"embedding_cache": cache_id} if cache_id else {})})


def _steps(rows: int, epochs: int) -> int:
    return epochs * -(-rows // BATCH)


def _reused_words(reused: bool) -> str:
    return ("; reused from an earlier run's identical fine-tune (same encoder, starting head, training rows, "
            "settings and training code), its training seconds those of that run") if reused else ""


def _cache_details(reused: bool, key: str) -> dict:
    return {"reused_finetune": reused, "finetune_key": key[:24]}


def _cache_id(cache: Path | None, key: str) -> str | None:
    return None if cache is None else key[:24]


def _state_digest(digest: Any, module: nn.Module) -> None:  # noqa: ANN401 - a hashlib hash
    for name, t in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str((tuple(t.shape), t.dtype)).encode())
        digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def _code_digest() -> str:
    """The training code the fine-tunes come from (a change to it makes earlier fine-tunes stale)."""
    parts = [inspect.getsource(f) for f in (finetune, encoder_forward, _train_end_to_end, lora, full)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _key(kind: str, encoder: nn.Module, probe: nn.Module, texts: Sequence[str], labels: torch.Tensor,
         s: TextSettings) -> str:
    import peft

    settings = {k: v for k, v in dataclasses.asdict(s).items() if k != "cache"}
    digest = hashlib.sha256(json.dumps(
        {"kind": kind, "settings": settings, "batch": BATCH, "lora_targets": list(LORA_TARGETS),
         "torch": torch.__version__, "peft": peft.__version__, "code": _code_digest()}, sort_keys=True).encode())
    _state_digest(digest, encoder)
    _state_digest(digest, probe)
    for t in texts:
        digest.update(hashlib.sha256(t.encode("utf-8")).digest())
    digest.update(labels.detach().cpu().numpy().astype("int64").tobytes())
    return digest.hexdigest()


def _trained_or_cached(cache: Path | None, key: str, enc: nn.Module, probe: nn.Module, fit: Callable[[], nn.Module],
                       kept: Callable[[str], bool], frozen_again: Callable[[], None]) -> tuple[nn.Module, float, bool]:
    """(head, training seconds, reused): the fine-tune stored under `key` when there is one (its encoder tensors named
    by `kept` loaded into `enc`), else `fit()` timed and stored."""
    path = None if cache is None else cache / f"{key[:24]}.safetensors"
    if path is not None and path.is_file():
        loaded = _load(path, enc, probe)
        if loaded is not None:
            frozen_again()
            return (*loaded, True)
    head, seconds = timed(fit)
    if path is not None:
        tensors = {f"encoder.{k}": v for k, v in enc.state_dict().items() if kept(k)}
        tensors.update({f"head.{k}": v for k, v in head.state_dict().items()})
        _store(path, tensors, seconds)
    return head, seconds, False


def _load(path: Path, enc: nn.Module, probe: nn.Module) -> tuple[nn.Module, float] | None:
    """The stored head and training seconds, with the stored encoder tensors copied into `enc`; None when the file
    is unreadable or does not fit these modules (it is then trained again and overwritten)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            seconds = float((f.metadata() or {})["training_seconds"])
        stored = load_file(str(path))
        head = copy.deepcopy(probe)
        head_state = {k[len("head."):]: v for k, v in stored.items() if k.startswith("head.")}
        enc_state = {k[len("encoder."):]: v for k, v in stored.items() if k.startswith("encoder.")}
        current = enc.state_dict()
        if not enc_state or any(k not in current or current[k].shape != v.shape for k, v in enc_state.items()):
            return None
        head.load_state_dict(head_state, strict=True)  # a fresh copy: a mismatch here leaves `enc` untouched
        enc.load_state_dict(enc_state, strict=False)
    except (OSError, KeyError, ValueError, RuntimeError, SafetensorError):
        return None
    os.utime(path)  # recently used: kept when older fine-tunes are dropped
    return head, seconds


def _store(path: Path, tensors: dict[str, torch.Tensor], seconds: float) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp),
              metadata={"training_seconds": repr(seconds)})
    tmp.replace(path)
    stored = sorted(path.parent.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[CACHE_KEEP:]:
        old.unlink(missing_ok=True)
        (path.parent / "embeddings" / old.name).unlink(missing_ok=True)


def variant_embeddings(variant: TrainedVariant, texts: Sequence[str], cache: Path | None,
                       device: str) -> torch.Tensor:
    """Sentence embeddings of `texts` by the variant's encoder, read from beside its cached fine-tune when known."""
    enc = variant.module.encoder
    key = variant.details.get("embedding_cache")
    if cache is None or not key:
        return embed(enc, texts, device)
    from audit.foundation.embeddings import EmbeddingCache

    store = EmbeddingCache(cache, str(key), max_entries=AUDIT_TEXTS_KEPT)
    return store.get_or_encode(texts, lambda todo: embed(enc, todo, device) if todo else torch.zeros(0, 0))
