"""Token attributions of a whole text classifier: integrated gradients over its input token embeddings.

Our own implementation (midpoint Riemann sum over `steps` points from an all-zero embedding baseline; neither
Captum nor shap), checked for completeness: per row, the attributions must add up to the change of the positive
class's logit between baseline and text (the path from a zero embedding is sharp: it needs ~128 steps).
Reported: the share of attribution on gendered words, the tokens with the largest mean attribution, and a few
texts with each token's attribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audit.foundation.text_checks import GENDER_SWAP
from audit.stats import bootstrap_mean_ci
from audit.suite import SuiteContext, SuiteOutput
from audit.types import Measurement, Table, ValidityCheck

MAX_COMPLETENESS_ERROR = 0.05  # relative; above it the Riemann sum is too coarse (raise ig_steps)
_EXAMPLES = 5


def integrated_gradients(head: torch.nn.Module, flat: torch.Tensor, target: int, steps: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributions like `flat`, logit(flat) - logit(0)) for the `target` logit, from the zero baseline."""
    device = next(head.parameters()).device
    flat = flat.to(device)
    total = torch.zeros_like(flat)
    for k in range(steps):
        point = (flat * (k + 0.5) / steps).requires_grad_(True)
        grad, = torch.autograd.grad(head(point)[:, target].sum(), point)
        total += grad
    with torch.no_grad():
        change = head(flat)[:, target] - head(torch.zeros_like(flat))[:, target]
    return (flat * total / steps).detach().cpu(), change.cpu()


def _token_scores(ctx: SuiteContext, x: torch.Tensor, steps: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, length) per-token attributions (summed over the embedding) and (n,) completeness errors."""
    module = ctx.model.module
    scores, errors = [], []
    for start in range(0, len(x), chunk):
        head, flat = module.embedding_view(x[start : start + chunk])
        attr, change = integrated_gradients(head, flat, ctx.data.positive_class, steps)
        per_token = attr.view(attr.shape[0], -1, head.shape[-1]).sum(-1)
        scores.append(np.pad(per_token.numpy(), ((0, 0), (0, x.shape[-1] - per_token.shape[1]))))
        gap = (per_token.sum(1) - change).abs() / change.abs().clamp_min(1.0)  # below one logit: absolute
        errors.append(gap.numpy())
    return np.concatenate(scores), np.concatenate(errors)


@dataclass(frozen=True)
class TokenScores:
    """Integrated gradients of texts: their tokenisation `x`, (n, length) per-token attributions towards the
    positive class's logit, per-row completeness errors, the tokens, and the settings."""

    texts: tuple[str, ...]
    x: torch.Tensor
    scores: np.ndarray
    errors: np.ndarray
    tokens: list[list[str]]
    steps: int


def ig_token_scores(ctx: SuiteContext, texts: tuple[str, ...], steps: int, chunk: int = 16) -> TokenScores:
    """Integrated gradients over the input token embeddings of `texts`, per token."""
    x = ctx.model.encoder.texts_to_inputs(texts)
    scores, errors = _token_scores(ctx, x, steps, chunk)
    tokenizer = ctx.model.encoder.tokenizer
    tokens = [tokenizer.convert_ids_to_tokens(ids[: int(mask.sum())].long().tolist()) for ids, mask in x]
    return TokenScores(tuple(texts), x, scores, errors, tokens, steps)


def token_attributions(ctx: SuiteContext, ig: TokenScores, resamples: int) -> SuiteOutput:
    """Integrated gradients for the texts: gendered-word share, top tokens, examples, completeness check."""
    texts, scores, errors, tokens, steps = ig.texts, ig.scores, ig.errors, ig.tokens, ig.steps
    magnitude = [np.abs(scores[i, : len(t)]) for i, t in enumerate(tokens)]
    gendered = np.array([sum(m for m, tok in zip(mag, t, strict=True) if tok.lower().lstrip("#") in GENDER_SWAP)
                         / max(mag.sum(), 1e-12) for mag, t in zip(magnitude, tokens, strict=True)])
    positive = ctx.data.class_names[ctx.data.positive_class]
    details = {"method": "integrated gradients (own implementation; not Captum or shap)", "steps": steps,
               "baseline": "all-zero input token embeddings", "target": f"logit of {positive}", "rows": len(texts),
               "space": "input token embeddings (inputs_embeds)"}
    measurements = (
        Measurement("token_attribution_share[gendered]", float(gendered.mean()),
                    bootstrap_mean_ci(gendered, resamples, ctx.seed), False, len(texts),
                    "Share of each text's total attribution (integrated gradients) that falls on gendered words "
                    "(he/she, man/woman, ...), averaged over texts.", {**details, "resamples": resamples}),
        Measurement("ig_completeness_error", float(errors.mean()), None, False, len(texts),
                    "Mean gap between the summed token attributions and the change in the logit they explain, "
                    "relative to that change (or to one logit when the change is smaller); 0 when complete.",
                    details),
    )
    complete = float(errors.max()) <= MAX_COMPLETENESS_ERROR
    validity = (ValidityCheck(
        "integrated_gradients_complete", complete,
        f"token attributions add up to the logit change within {errors.max():.1%} on every row"
        if complete else f"attributions miss the logit change by up to {errors.max():.1%}: raise ig_steps"),)
    return SuiteOutput(measurements=measurements, tables=(_top_tokens(tokens, magnitude), _examples(tokens, scores)),
                       validity=validity,
                       notes=(f"Integrated gradients over input token embeddings, {steps} steps, for "
                              f"{len(texts)} texts; {float(gendered.mean()):.1%} of attribution falls on gendered "
                              "words on average.",))


def _top_tokens(tokens: list[list[str]], magnitude: list[np.ndarray]) -> Table:
    totals: dict[str, list[float]] = {}
    for row, mag in zip(tokens, magnitude, strict=True):
        for tok, value in zip(row, mag, strict=True):
            totals.setdefault(tok, []).append(float(value))
    ranked = sorted(totals.items(), key=lambda kv: -np.mean(kv[1]))[:15]
    return Table(id="text_token_attribution_top", title="Tokens with the largest mean |attribution|",
                 columns=("token", "mean |attribution|", "occurrences"),
                 rows=tuple((tok, round(float(np.mean(v)), 4), len(v)) for tok, v in ranked))


def _examples(tokens: list[list[str]], scores: np.ndarray) -> Table:
    rows = tuple((i + 1, " ".join(f"{tok}({scores[i, j]:+.2f})" for j, tok in enumerate(t)))
                 for i, t in enumerate(tokens[:_EXAMPLES]))
    return Table(id="text_token_attribution_examples", title="Token attributions of a few texts",
                 columns=("text", "token(attribution towards the positive class)"), rows=rows)
