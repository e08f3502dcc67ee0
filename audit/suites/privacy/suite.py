"""The privacy suite: membership inference (Yeom, ART black-box, LiRA), an empirical ε lower bound,
leakage by group and attribute inference. Members are the model's training rows, non-members held-out rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from audit.errors import AuditInputError
from audit.suite import SuiteContext, SuiteOutput

ART_ATTACK_MODELS = ("nn", "rf", "gb", "lr", "dt", "knn", "svm")


@dataclass(frozen=True)
class PrivacyParams:
    max_per_side: int = 10_000  # members (and as many non-members) sampled for the attacks
    shadow_models: int = 16  # LiRA shadows; 0 skips LiRA; otherwise even and >= 4
    shadow_epochs: int | None = None  # None: the recipe's epochs (any other value is reported with the figure)
    global_variance: bool = True  # LiRA: one pooled variance (the paper's advice below 64 shadows)
    art_attack_model: str = "gb"  # ART MembershipInferenceBlackBox attack model type
    bootstrap_resamples: int = 1000
    attribute_rows: int = 4000  # training members used for attribute inference
    shift_rows: int = 4000  # rows for the members-vs-non-members distribution check
    group_min_per_side: int = 30  # fewer members or non-members in a group: insufficient evidence
    delta: float = 1e-5


PRESETS = {
    "full": PrivacyParams(),
    "quick": PrivacyParams(max_per_side=1000, shadow_models=4, bootstrap_resamples=200, attribute_rows=1000,
                           shift_rows=1000),
}


def validate(params: PrivacyParams) -> None:
    if params.shadow_models != 0 and (params.shadow_models < 4 or params.shadow_models % 2):
        raise AuditInputError(
            f"privacy: shadow_models = {params.shadow_models}; use 0 (no LiRA) or an even number of at least 4."
        )
    if params.art_attack_model not in ART_ATTACK_MODELS:
        raise AuditInputError(
            f"privacy: art_attack_model = {params.art_attack_model!r}; choose one of {', '.join(ART_ATTACK_MODELS)}."
        )
    if params.shadow_epochs is not None and params.shadow_epochs < 1:
        raise AuditInputError("privacy: shadow_epochs must be at least 1 (or unset to use the recipe's).")
    if params.bootstrap_resamples < 100:
        raise AuditInputError("privacy: bootstrap_resamples must be at least 100 for a 95% interval.")
    if not 0 < params.delta < 1:
        raise AuditInputError("privacy: delta must be between 0 and 1 (the default is 1e-5).")


class PrivacySuite:
    name: ClassVar[str] = "privacy"
    pillar: ClassVar[str] = "privacy"
    requires: ClassVar[frozenset[str]] = frozenset({"training-data"})
    description: ClassVar[str] = (
        "Membership inference (loss threshold, ART black-box, LiRA), empirical ε lower bound, attribute inference"
    )
    Params = PrivacyParams

    def params_for(self, preset: str) -> PrivacyParams:
        if preset not in PRESETS:
            raise AuditInputError(f"privacy: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        return PRESETS[preset]

    def run(self, ctx: SuiteContext, params: PrivacyParams) -> SuiteOutput:
        from audit.suites.privacy.pipeline import run_privacy

        validate(params)
        return run_privacy(ctx, params)
