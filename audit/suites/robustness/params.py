"""Parameters of the robustness suite and the "full" / "quick" presets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RobustnessParams:
    """Empty ε tuples mean "the defaults for this input kind" (see `inputs.default_eps`)."""

    n_rows: int = 1000  # audit rows drawn (seeded) from the test split
    eps_linf: tuple[float, ...] = ()  # images: pixel units; tabular: fractions of each feature's std
    eps_l2: tuple[float, ...] = ()
    sweep: str = "full"  # which default ε grid: "full" | "quick"
    pgd_steps: int = 20
    pgd_restarts: int = 1
    run_l2: bool = True
    run_apgd: bool = True  # APGD-CE (and APGD-DLR for 3+ classes), via ART
    apgd_steps: int = 25
    n_blackbox: int = 200  # rows given to the query-only attack
    blackbox_queries: int = 500
    n_deepfool: int = 200
    deepfool_steps: int = 50
    categorical_budget: int = 1  # one-hot features a tabular attacker may switch per row
    immutable_features: tuple[str, ...] = ("sex", "race", "age")
    noise_sigmas: tuple[float, ...] = ()
    large_eps: float = 0.0  # 0: 1.0 for images, 20 std for tabular (the "falls to chance" check)
    validity_tolerance: float = 0.02  # slack, in accuracy points, for the attack-strength checks
    zero_gradient_tolerance: float = 0.05  # share of inputs with an all-zero gradient that is tolerated
    min_group_rows: int = 30  # fewer rows in a sensitive group: figure marked insufficient
    batch_size: int = 512
    n_image_examples: int = 4


def preset_params(preset: str) -> RobustnessParams:
    if preset == "quick":
        return RobustnessParams(
            n_rows=300, sweep="quick", pgd_steps=10, run_l2=False, run_apgd=False, n_blackbox=64,
            blackbox_queries=150, n_deepfool=64, deepfool_steps=30,
        )
    return RobustnessParams()
