"""End-to-end fine-tuning of encoder + head (meant for a GPU; runs, slowly, on the CPU for tests)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def encoder_forward(encoder: nn.Module, texts: Sequence[str], device: str) -> torch.Tensor:
    """Differentiable sentence embeddings (the sentence-transformers module pipeline, with autograd)."""
    prepare = getattr(encoder, "preprocess", None) or encoder.tokenize  # renamed in sentence-transformers 6
    features = prepare(list(texts))
    features = {k: v.to(device) for k, v in features.items() if isinstance(v, torch.Tensor)}
    return encoder(features)["sentence_embedding"]


def finetune(
    encoder: nn.Module, head: nn.Module, texts: Sequence[str], labels: torch.Tensor, device: str,
    epochs: int = 1, lr: float = 2e-5, batch_size: int = 32, seed: int = 0,
) -> None:
    """Train encoder and head together with AdamW (bf16 autocast on CUDA); both end frozen in eval mode."""
    torch.manual_seed(seed)
    encoder.to(device).train()
    head.to(device).train()
    for p in encoder.parameters():
        p.requires_grad_(True)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr)
    order = torch.Generator().manual_seed(seed)
    use_bf16 = device.startswith("cuda")
    for _ in range(epochs):
        permutation = torch.randperm(len(texts), generator=order)
        for start in range(0, len(texts), batch_size):
            batch = permutation[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                logits = head(encoder_forward(encoder, [texts[i] for i in batch], device))
            nn.functional.cross_entropy(logits.float(), labels[batch].to(device)).backward()
            optimizer.step()
    encoder.eval()
    head.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
