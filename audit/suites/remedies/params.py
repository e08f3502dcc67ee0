"""Parameters of the remedies suite and its "full" / "quick" presets."""

from __future__ import annotations

from dataclasses import dataclass

from audit.suite import bounded

TABULAR_REMEDIES = ("adversarial_training", "dp_sgd", "distillation", "fairness_constrained")
REMEDIES = (*TABULAR_REMEDIES, "foundation")
CONSTRAINTS = ("demographic_parity", "equalized_odds")


@dataclass(frozen=True)
class RemediesParams:
    """Overridable under [tool.audit.suites.remedies]; recorded in the scorecard."""

    remedies: tuple[str, ...] = bounded(REMEDIES, choices=REMEDIES)
    # Re-audit: the robustness policy's gated L∞ ε (tabular: std units of mutable numerics; images: pixels).
    epsilon: float = bounded(0.1, min=1e-6, max=5.0)
    attack_steps: int = bounded(20, min=1)  # PGD steps of the robust-accuracy re-audit (robustness full: 20)
    attack_restarts: int = bounded(1, min=0)
    attack_rows: int = bounded(2000, min=50)  # seeded test rows attacked, the same for every variant
    membership_rows: int = bounded(5000, min=50)  # members (and as many non-members) for the loss attack
    bootstrap_resamples: int = bounded(1000, min=100)
    min_group_size: int = bounded(30, min=1)
    throughput_batch: int = bounded(256, min=1)
    epochs: int = bounded(0, min=0)  # epochs of every tabular remedy; 0: the recipe's (as the original was trained)
    # Adversarial training (Madry et al. 2018): PGD steps per training batch, at `epsilon`.
    train_attack_steps: int = bounded(5, min=1)
    # DP-SGD (opacus): target (ε, δ), per-example clipping norm, Poisson batch size and learning rate.
    dp_epsilon: float = bounded(8.0, min=0.01)
    dp_delta: float = bounded(1e-5, min=1e-12, max=0.1)
    dp_max_grad_norm: float = bounded(1.0, min=1e-6)
    dp_batch_size: int = bounded(512, min=8)
    dp_lr: float = bounded(2e-3, min=1e-8)
    # Distillation (Hinton et al. 2015): temperature and weight of the soft-target term.
    distill_temperature: float = bounded(4.0, min=1.0)
    distill_alpha: float = bounded(0.9, min=0.0, max=1.0)
    # Fairness-constrained training: a differentiable penalty on one sensitive attribute ("" = the first).
    fairness_constraint: str = bounded("demographic_parity", choices=CONSTRAINTS)
    fairness_attribute: str = ""
    fairness_weight: float = bounded(2.0, min=0.0)
    # Images (the zoo CNN): every remedy trains on `image_train_rows` seeded training rows; adversarial training
    # fine-tunes the audited weights for `image_epochs` epochs, DP-SGD (Poisson batches of `image_dp_batch_size`) and
    # the student train from scratch for `image_scratch_epochs`. Membership is scored on members drawn from those
    # rows, robust accuracy on `image_attack_rows` seeded test rows.
    image_train_rows: int = bounded(1000, min=100)
    image_epochs: int = bounded(1, min=1)
    image_scratch_epochs: int = bounded(4, min=1)
    image_dp_batch_size: int = bounded(64, min=8)
    image_attack_rows: int = bounded(500, min=50)
    # Foundation (adult-text-minilm): frozen vs LoRA vs full fine-tuning on a CPU subset of rows.
    foundation_rows: int = bounded(600, min=40)  # rows (train + test) on a CPU; all rows on a GPU
    foundation_epochs: int = bounded(2, min=1)
    foundation_lr: float = bounded(2e-5, min=1e-8)
    lora_rank: int = bounded(8, min=1)
    lora_lr: float = bounded(5e-4, min=1e-8)

    def conflicts(self) -> list[str]:
        problems = []
        if len(set(self.remedies)) != len(self.remedies):
            problems.append(f"remedies {list(self.remedies)} lists a remedy twice")
        return problems


QUICK = RemediesParams(
    remedies=TABULAR_REMEDIES, attack_steps=10, attack_rows=1000, membership_rows=2000, bootstrap_resamples=300,
    train_attack_steps=3, epochs=2,
)


def preset_params(preset: str) -> RemediesParams:
    return QUICK if preset == "quick" else RemediesParams()
