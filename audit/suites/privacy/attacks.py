"""Runs the membership attacks on the evaluation set; each yields scores (higher = member) and labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from audit.suite import SuiteContext
from audit.suites.privacy import shadow as shadows
from audit.suites.privacy.art_attack import art_blackbox_scores
from audit.suites.privacy.lira import lira_scores
from audit.suites.privacy.sampling import EvaluationSet
from audit.suites.privacy.threshold import correctness_scores, logit_confidence, loss_scores
from audit.types import JSONValue

ShadowProgress = shadows.EpochCallback


@dataclass(frozen=True)
class AttackOutcome:
    key: str  # measurement bracket name: "loss", "lira_online"
    title: str
    scores: np.ndarray
    labels: np.ndarray
    sensitive: pd.DataFrame  # row-aligned with scores, for leakage by group
    details: Mapping[str, JSONValue] = field(default_factory=dict)
    rows: np.ndarray | None = None  # indices into the evaluation set when only some of its rows were scored


@dataclass(frozen=True)
class LiraRun:
    online: AttackOutcome
    offline: AttackOutcome
    shadow_accuracy_out: float  # shadows' accuracy on rows they did not train on
    target_accuracy_out: float  # the audited model's accuracy on non-members


def threshold_attacks(outputs: torch.Tensor, kind: str, ev: EvaluationSet) -> list[AttackOutcome]:
    """Yeom et al. 2018: the loss-threshold attack and the correctness rule."""
    base = {"reference": "Yeom et al. 2018", "rows": int(ev.labels.size)}
    return [
        AttackOutcome("loss", "Loss threshold (Yeom et al.)", loss_scores(outputs, ev.y, kind), ev.labels,
                      ev.sensitive, {**base, "score": "-cross-entropy of the true class"}),
        AttackOutcome("correctness", "Correct-prediction rule (Yeom et al.)", correctness_scores(outputs, ev.y),
                      ev.labels, ev.sensitive, {**base, "score": "1 if the prediction is correct else 0"}),
    ]


def art_attack(probs: np.ndarray, ev: EvaluationSet, n_classes: int, attack_model: str,
               rng: np.random.Generator) -> AttackOutcome:
    held = art_blackbox_scores(probs, ev.y.numpy(), ev.labels, n_classes, attack_model, rng)
    return AttackOutcome(
        "art_blackbox", "ART MembershipInferenceBlackBox", held.scores, held.labels,
        ev.sensitive.iloc[np.flatnonzero(held.held_out)].reset_index(drop=True),
        {"reference": "ART MembershipInferenceBlackBox (Shokri et al. 2017 style)", "attack_model": attack_model,
         "attack_training_rows": held.n_train, "rows": int(held.labels.size), "input": "probabilities + label"},
        rows=np.flatnonzero(held.held_out),
    )


def lira_attack(ctx: SuiteContext, outputs: torch.Tensor, ev: EvaluationSet, n_shadows: int,
                epochs: int | None, global_variance: bool, rng: np.random.Generator,
                on_done: ShadowProgress | None = None, shadows_per_task: int = shadows.SHADOWS_PER_TASK) -> LiraRun:
    """Train `n_shadows` shadows by the model's recipe on halves of the evaluation set (fanned out by the suite's
    executor, kept for --resume), then score LiRA."""
    model, seed = ctx.model, ctx.seed
    assert model.recipe is not None
    recipe = model.recipe
    shadow_epochs = recipe.epochs if epochs is None else epochs
    keep = shadows.paired_assignment(n_shadows, ev.labels.size, rng)
    trained = shadows.train_shadows(ctx, shadows.ShadowPool(recipe, ev.x, ev.y, shadow_epochs, model.device), keep,
                                    on_done, shadows_per_task)
    shadow_phi = trained.phi
    target_phi = logit_confidence(outputs, ev.y, model.outputs)
    scores = lira_scores(target_phi, shadow_phi, keep, global_variance)
    details: dict[str, JSONValue] = {
        "reference": "Carlini et al. 2022", "shadow_models": n_shadows, "shadow_epochs": shadow_epochs,
        "recipe_epochs": recipe.epochs, "recipe": recipe.name, "shadow_training_rows": int(keep[0].sum()),
        "target_training_rows": ev.members_available, "in_models_per_example": scores.in_per_example,
        "out_models_per_example": scores.out_per_example, "global_variance": global_variance,
        "statistic": "log(p_y / (1 - p_y))", "rows": int(ev.labels.size), "seed": seed,
    }
    if shadow_epochs != recipe.epochs:
        details["note"] = f"shadows trained {shadow_epochs} epochs instead of the recipe's {recipe.epochs}"
    correct = trained.correct
    nonmember = ev.labels == 0
    target_correct = (outputs.argmax(-1) == ev.y).numpy()
    return LiraRun(
        online=AttackOutcome("lira_online", "LiRA online (Carlini et al.)", scores.online, ev.labels,
                             ev.sensitive, {**details, "variant": "online"}),
        offline=AttackOutcome("lira_offline", "LiRA offline (Carlini et al.)", scores.offline, ev.labels,
                              ev.sensitive, {**details, "variant": "offline"}),
        shadow_accuracy_out=float(correct[~keep].mean()),
        target_accuracy_out=float(target_correct[nonmember].mean()),
    )
