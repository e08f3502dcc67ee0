"""Parameters of the robustness suite and the "full" / "quick" presets."""

from __future__ import annotations

from dataclasses import dataclass

from audit.suite import bounded


@dataclass(frozen=True)
class RobustnessParams:
    """Empty ε tuples mean "the defaults for this input kind" (see `inputs.default_eps`)."""

    n_rows: int = bounded(1000, min=1)  # audit rows drawn (seeded) from the test split
    # Sequential sampling of the white-box sweep (audit.stats.SequentialLooks): each ε's worst-case robust accuracy
    # is looked at after these many rows (then all n_rows), and no more rows are attacked at that ε once its
    # interval's half-width is at most ci_half_width. () attacks all n_rows at every ε (one look, plain 95%).
    row_looks: tuple[int, ...] = bounded((250, 500), min=1)
    ci_half_width: float = bounded(0.04, min=0.0, max=0.5)
    # Each look's new rows are attacked in shards of at most this many rows, each a task of its own (side by side on
    # Ray) seeded by its index: a setting of the audit, not of the executor, so every executor gives the same figures.
    shard_rows: int = bounded(250, min=1)
    # images: pixel units; tabular: fractions of each feature's std
    eps_linf: tuple[float, ...] = bounded((), min=0.0)
    eps_l2: tuple[float, ...] = bounded((), min=0.0)
    sweep: str = bounded("full", choices=("full", "quick"))  # which default ε grid
    pgd_steps: int = bounded(20, min=1)
    pgd_restarts: int = bounded(1, min=1)
    run_l2: bool = True
    run_apgd: bool = True  # APGD-CE (and APGD-DLR for 3+ classes), on the shared attack engine
    apgd_steps: int = bounded(25, min=1)
    n_blackbox: int = bounded(200, min=0)  # rows given to the query-only attack
    blackbox_queries: int = bounded(500, min=1)
    # decision-based HopSkipJump for models without gradients (the only attack for a labels-only model)
    run_decision_based: bool = True
    decision_iterations: int = bounded(20, min=1)
    decision_max_evals: int = bounded(200, min=1)  # boundary-normal queries per iteration, at most
    n_deepfool: int = bounded(200, min=0)
    deepfool_steps: int = bounded(50, min=1)
    categorical_budget: int = bounded(1, min=0)  # one-hot features a tabular attacker may switch per row
    immutable_features: tuple[str, ...] = ("sex", "race", "age")
    noise_sigmas: tuple[float, ...] = bounded((), min=0.0)
    # 0: 1.0 for images, 20 std for tabular (the "falls to chance" check)
    large_eps: float = bounded(0.0, min=0.0)
    # slack, in accuracy points, for the attack-strength checks
    validity_tolerance: float = bounded(0.02, min=0.0, max=1.0)
    # share of inputs with an all-zero gradient that is tolerated
    zero_gradient_tolerance: float = bounded(0.05, min=0.0, max=1.0)
    min_group_rows: int = bounded(30, min=1)  # fewer rows in a sensitive group: figure marked insufficient
    batch_size: int = bounded(512, min=1)
    n_image_examples: int = bounded(4, min=0)


def preset_params(preset: str) -> RobustnessParams:
    if preset == "quick":
        return RobustnessParams(
            n_rows=300, row_looks=(), sweep="quick", pgd_steps=10, run_l2=False, run_apgd=False, n_blackbox=64,
            blackbox_queries=150, decision_iterations=8, decision_max_evals=100, n_deepfool=64, deepfool_steps=30,
        )
    return RobustnessParams()
