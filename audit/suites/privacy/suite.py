"""The privacy suite: membership inference (Yeom, ART black-box, LiRA), an empirical ε lower bound,
leakage by group and attribute inference. Members are the model's training rows, non-members held-out rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from audit.errors import AuditInputError
from audit.suite import SuiteContext, SuiteOutput, bounded

ART_ATTACK_MODELS = ("nn", "rf", "gb", "lr", "dt", "knn", "svm", "none")


@dataclass(frozen=True)
class PrivacyParams:
    max_per_side: int = bounded(10_000, min=1)  # members (and as many non-members) sampled for the attacks
    shadow_models: int = bounded(16, min=0)  # LiRA shadows; 0 skips LiRA; otherwise even and >= 4
    # LiRA shadows trained together (one vectorised pass) per task; fewer: more parallel Ray tasks and finer
    # --resume parts, but more CPU per shadow (per-step overhead: 4 per task cost ~2x CPU of 16 on 2 cores)
    shadows_per_task: int = bounded(16, min=1)
    # None: the recipe's epochs (any other value is reported with the figure)
    shadow_epochs: int | None = bounded(None, min=1)
    global_variance: bool = True  # LiRA: one pooled variance (the paper's advice below 64 shadows)
    # ART MembershipInferenceBlackBox attack model type; "none" leaves that attack out (the quick preset: importing
    # ART alone costs ~2 s of CPU, a third of the preset's budget, and no gate reads its figures)
    art_attack_model: str = bounded("gb", choices=ART_ATTACK_MODELS)
    bootstrap_resamples: int = bounded(1000, min=100)  # at least 100 for a 95% interval
    attribute_rows: int = bounded(4000, min=1)  # training members used for attribute inference
    shift_rows: int = bounded(4000, min=1)  # rows for the members-vs-non-members distribution check
    # fewer members or non-members in a group: insufficient evidence
    group_min_per_side: int = bounded(30, min=1)
    delta: float = bounded(1e-5, min=0.0, max=1.0)
    # label-only membership inference: perturbed queries per row (0 skips it) and their σ (std or pixel units)
    label_only_queries: int = bounded(20, min=0)
    label_only_sigma: float = bounded(0.02, min=0.0)
    # LiRA on a Hugging Face text classifier: how it was fine-tuned, e.g. { epochs = 3, lr = 2e-5, batch_size = 16,
    # start = "DIR" } (audit.suites.privacy.lira_finetune); empty: no recipe, no LiRA. Its shadow fine-tunes run on
    # CUDA by default and on the CPU only when forced.
    finetune_recipe: Mapping[str, Any] = field(default_factory=dict)
    shadow_finetunes_on_cpu: bool = False

    def conflicts(self) -> list[str]:
        if self.shadow_models != 0 and (self.shadow_models < 4 or self.shadow_models % 2):
            return [f"shadow_models = {self.shadow_models}; use 0 (no LiRA) or an even number of at least 4"]
        if self.delta in (0.0, 1.0):
            return [f"delta = {self.delta:g} must lie strictly between 0 and 1 (the default is 1e-5)"]
        from audit.suites.privacy.finetune_recipe import recipe_problems

        return recipe_problems(self.finetune_recipe)


PRESETS = {
    "full": PrivacyParams(),
    "quick": PrivacyParams(max_per_side=1000, shadow_models=4, bootstrap_resamples=200, attribute_rows=1000,
                           shift_rows=1000, label_only_queries=8, art_attack_model="none"),
}


class PrivacySuite:
    name: ClassVar[str] = "privacy"
    pillar: ClassVar[str] = "privacy"
    # probabilities enable the loss, ART and LiRA attacks; predicted classes alone, the label-only attack
    requires: ClassVar[frozenset[str]] = frozenset({"training-data", "queries"})
    relative_cost: ClassVar[float] = 3.0  # rough share of a run: the longest start first (--jobs)
    description: ClassVar[str] = (
        "Membership inference (loss threshold, ART black-box, LiRA, label-only), empirical ε lower bound, "
        "attribute inference"
    )
    Params = PrivacyParams
    emits: ClassVar[tuple[str, ...]] = (
        "membership_auc[*]", "membership_balanced_accuracy[*]", "membership_tpr[*]", "membership_advantage[*]",
        "epsilon_lower_bound", "epsilon_lower_bound[*]", "attribute_inference_auc_gain[*]",
    )

    def params_for(self, preset: str) -> PrivacyParams:
        if preset not in PRESETS:
            raise AuditInputError(f"privacy: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        return PRESETS[preset]

    def run(self, ctx: SuiteContext, params: PrivacyParams) -> SuiteOutput:
        from audit.suites.privacy.pipeline import run_privacy

        return run_privacy(ctx, params)
