"""LiRA for a Hugging Face text classifier: shadow models are fine-tunes by the recipe the user gives.

A Hugging Face folder carries no training recipe, so LiRA needs one in config: `[suites.privacy] finetune_recipe =
{ epochs = 3, lr = 2e-5, batch_size = 16 }`, optionally with `start = "DIR"`, the local pre-trained checkpoint the
model was fine-tuned from (read through the same allow-lists as --model: safetensors, no remote code); without
`start` each shadow starts from fresh weights built from the audited model's config. Each shadow fine-tunes on its
IN half of the evaluation rows (complementary pairs, as for zoo models) and is scored on all of them; LiRA itself is
`lira.lira_scores`. Shadow fine-tunes are costly, so they run by default only when the model is on a CUDA device;
`shadow_finetunes_on_cpu = true` forces them on the CPU. Every shadow's outputs are kept as a part for --resume.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from audit.stats import derive_seed
from audit.suite import SuiteContext
from audit.suites.privacy.attacks import AttackOutcome, LiraRun
from audit.suites.privacy.finetune_recipe import FineTuneRecipe, parse_recipe
from audit.suites.privacy.lira import lira_scores
from audit.suites.privacy.sampling import EvaluationSet
from audit.suites.privacy.shadow import paired_assignment
from audit.suites.privacy.threshold import logit_confidence
from audit.types import JSONValue

if TYPE_CHECKING:
    from audit.suites.privacy.suite import PrivacyParams as PrivacySettings

FORCE_ON_CPU = "shadow_finetunes_on_cpu"
_SALT = 4201


def is_hf_text_classifier(ctx: SuiteContext) -> bool:
    from audit.models.hf import HFSequenceClassifier

    return isinstance(ctx.model.module, HFSequenceClassifier)


def skip_reason(ctx: SuiteContext, recipe: FineTuneRecipe | None, n_shadows: int, forced: bool) -> str | None:
    """Why LiRA's shadow fine-tunes do not run here (None: they do)."""
    if recipe is None:
        return ("LiRA not run: no fine-tuning recipe was given for this Hugging Face model, so shadow models cannot be "
                "fine-tuned like it; set [suites.privacy] finetune_recipe = { epochs = ..., lr = ..., batch_size = ... "
                "} (and start = \"DIR\", the pre-trained checkpoint it was fine-tuned from).")
    if _is_adapter(ctx.model.module.model):
        return "LiRA not run: shadow fine-tunes of PEFT/LoRA adapters are not built yet (only whole classifiers)."
    if not str(ctx.model.device).startswith("cuda") and not forced:
        return (f"LiRA not run: its {n_shadows} shadow fine-tunes of the Hugging Face model are costly and run by "
                f"default on a CUDA device only (this run is on {ctx.model.device}); set [suites.privacy] "
                f"{FORCE_ON_CPU} = true to force them on the CPU.")
    return None


def _is_adapter(model: nn.Module) -> bool:
    return type(model).__name__.startswith("Peft")


def _fresh_model(audited: nn.Module, recipe: FineTuneRecipe) -> nn.Module:
    """A shadow's starting point: the pre-trained checkpoint `recipe.start`, or fresh weights from the config
    (drawn from torch's global generator, which the caller seeds)."""
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(audited.config)
    if recipe.start is None:
        return AutoModelForSequenceClassification.from_config(config)
    from audit.models import hf

    check = hf.check_model_folder(Path(recipe.start).expanduser().resolve())
    with hf._offline():
        return AutoModelForSequenceClassification.from_pretrained(
            str(check.path), local_files_only=True, use_safetensors=True, trust_remote_code=False,
            num_labels=config.num_labels, id2label=config.id2label, label2id=config.label2id)


def fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: FineTuneRecipe, seed: int,
              device: str) -> nn.Module:
    """Fine-tune a transformers sequence classifier on rows x (n, 2, length) by the recipe; returns it in eval mode."""
    from audit.models.hf import HFSequenceClassifier

    wrapped = HFSequenceClassifier(model).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    wrapped.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            loss = nn.functional.cross_entropy(wrapped(x[batch].to(device)), y[batch].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return wrapped.eval()


@torch.no_grad()
def _logits(wrapped: nn.Module, x: torch.Tensor, device: str, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([wrapped(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])


def shadow_logits(ctx: SuiteContext, ev: EvaluationSet, keep: np.ndarray, recipe: FineTuneRecipe) -> torch.Tensor:
    """(N, n, classes) logits of N shadow fine-tunes (shadow i trains on rows where keep[i]) on every row."""
    audited, device = ctx.model.module.model, str(ctx.model.device)
    outputs = []
    for i, row in enumerate(keep):
        seed = derive_seed(ctx.seed, _SALT, i)

        def compute(row: np.ndarray = row, seed: int = seed) -> list:
            members = torch.as_tensor(np.flatnonzero(row))
            with torch.random.fork_rng(devices=[]):  # initialisation and dropout seeded per shadow, nothing leaks out
                torch.manual_seed(seed % 2**63)
                shadow = fine_tune(_fresh_model(audited, recipe), ev.x[members], ev.y[members], recipe, seed, device)
            return _logits(shadow, ev.x, device).tolist()

        outputs.append(torch.as_tensor(ctx.part(f"privacy.lira_finetune.shadow[{i}]", compute), dtype=torch.float64))
        ctx.progress(2 + (i + 1) / len(keep), 5, f"privacy: {i + 1} of {len(keep)} shadow fine-tunes")
    return torch.stack(outputs)


def lira_finetune(ctx: SuiteContext, outputs: torch.Tensor, ev: EvaluationSet, n_shadows: int,
                  recipe: FineTuneRecipe, global_variance: bool, rng: np.random.Generator) -> LiraRun:
    """Shadow fine-tunes on paired halves of the evaluation rows, then LiRA online and offline."""
    keep = paired_assignment(n_shadows, ev.labels.size, rng)
    shadow_out = shadow_logits(ctx, ev, keep, recipe)
    target_phi = logit_confidence(outputs, ev.y, ctx.model.outputs)
    scores = lira_scores(target_phi, logit_confidence(shadow_out, ev.y, "logits"), keep, global_variance)
    details: dict[str, JSONValue] = {
        "reference": "Carlini et al. 2022", "shadow_models": n_shadows, "shadow_finetunes": n_shadows,
        "recipe": f"fine-tuning recipe from config: {recipe.description}", "device": str(ctx.model.device),
        "shadow_training_rows": int(keep[0].sum()), "target_training_rows": ev.members_available,
        "in_models_per_example": scores.in_per_example, "out_models_per_example": scores.out_per_example,
        "global_variance": global_variance, "statistic": "log(p_y / (1 - p_y))", "rows": int(ev.labels.size),
        "seed": ctx.seed,
    }
    correct = (shadow_out.argmax(-1) == ev.y).numpy()
    target_correct = (outputs.argmax(-1) == ev.y).numpy()
    return LiraRun(
        online=AttackOutcome("lira_online", "LiRA online (Carlini et al.), shadow fine-tunes", scores.online,
                             ev.labels, ev.sensitive, {**details, "variant": "online"}),
        offline=AttackOutcome("lira_offline", "LiRA offline (Carlini et al.), shadow fine-tunes", scores.offline,
                              ev.labels, ev.sensitive, {**details, "variant": "offline"}),
        shadow_accuracy_out=float(correct[~keep].mean()),
        target_accuracy_out=float(target_correct[ev.labels == 0].mean()),
    )


def lira_for_hf(ctx: SuiteContext, params: PrivacySettings, outputs: torch.Tensor,
                ev: EvaluationSet) -> tuple[LiraRun | None, str | None]:
    """LiRA on a Hugging Face text classifier, or why it did not run (the recipe, the device, adapters)."""
    recipe = parse_recipe(params.finetune_recipe)
    reason = skip_reason(ctx, recipe, params.shadow_models, params.shadow_finetunes_on_cpu)
    if reason is not None:
        return None, reason
    assert recipe is not None
    return lira_finetune(ctx, outputs, ev, params.shadow_models, recipe, params.global_variance, ctx.rng(3)), None
