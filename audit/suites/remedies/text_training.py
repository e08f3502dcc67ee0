"""The three ways of adapting the sentence encoder behind a text model: frozen + head, LoRA (peft), full.

Each returns a `TrainedVariant` whose module maps a list of texts to logits, so the re-audit treats them
alike. Every variant starts from a copy of the audited encoder and a head built from the model's recipe
with the same seed; the audited model itself is never changed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from audit.data.types import Split
from audit.foundation.finetune import encoder_forward, finetune
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.variant import TrainedVariant, count_parameters, timed

LORA_TARGETS = ("query", "value")  # attention projections of BERT-style encoders (Hu et al. 2021)
BATCH = 32


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


def embed(encoder: nn.Module, texts: Sequence[str], device: str) -> torch.Tensor:
    with torch.no_grad():
        encoder.eval()
        return torch.cat([encoder_forward(encoder, texts[i : i + BATCH], device).float().cpu()
                          for i in range(0, len(texts), BATCH)])


def _head_recipe(recipe: Recipe, dimension: int) -> Recipe:
    return dataclasses.replace(recipe, arch_kwargs={**recipe.arch_kwargs, "in_features": dimension, "n_classes": 2})


def frozen(encoder: nn.Module, recipe: Recipe, train: Split, texts: Sequence[str], s: TextSettings) -> TrainedVariant:
    enc = copy.deepcopy(encoder).to(s.device)

    def fit() -> nn.Module:
        x = embed(enc, texts, s.device)
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

    head, seconds = timed(fit)
    return _variant("foundation.full", enc, head, seconds, s.device,
                    f"every encoder and head parameter trained end to end from the frozen variant's head "
                    f"(AdamW, lr {s.lr:g}, {s.epochs} epoch(s), batches of {BATCH})",
                    {"method": "full fine-tuning", "epochs": s.epochs, "lr": s.lr},
                    trainable=count_parameters(enc) + count_parameters(head))


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

    head, seconds = timed(fit)
    return _variant("foundation.lora", enc, head, seconds, s.device,
                    f"LoRA adapters (peft, rank {s.lora_rank}, α {2 * s.lora_rank}) on the attention "
                    f"{'/'.join(LORA_TARGETS)} projections plus the frozen variant's head, trained end to end "
                    f"(AdamW, lr {s.lora_lr:g}, {s.epochs} epoch(s)); the encoder's own weights stay frozen",
                    {"method": "LoRA", "rank": s.lora_rank, "targets": list(LORA_TARGETS), "lr": s.lora_lr},
                    trainable=sum(p.numel() for p in adapters) + count_parameters(head))


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
             trainable: int | None = None) -> TrainedVariant:
    module = TextClassifier(enc, head.to(device).eval(), device)
    return TrainedVariant(name, module, how, seconds,
                          count_parameters(head) if trainable is None else trainable, count_parameters(module),
                          details=details)
