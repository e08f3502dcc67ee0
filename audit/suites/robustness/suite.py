"""RobustnessSuite: adversarial ε sweeps, natural corruptions and robustness by group, with validity checks."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch

from audit.errors import SuiteSkipped
from audit.evidence import RowEvidence, row_keys
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.robustness import eps_sweep, report, validity, whitebox
from audit.suites.robustness.chunks import RowChunks, chunk_rows
from audit.suites.robustness.evidence import outcome_columns
from audit.suites.robustness.findings import Findings
from audit.suites.robustness.gradient_free import LabelView, gradient_free_findings
from audit.suites.robustness.groups import group_measurements
from audit.suites.robustness.inputs import check_eps, check_inputs, default_eps
from audit.suites.robustness.natural import natural_findings
from audit.suites.robustness.params import RobustnessParams, preset_params
from audit.suites.robustness.sweep import AttackSetup, Outcome
from audit.suites.robustness.threat import LogitView, build_space


class RobustnessSuite:
    name: ClassVar[str] = "robustness"
    pillar: ClassVar[str] = "robustness"
    requires: ClassVar[frozenset[str]] = frozenset({"queries"})  # scores or gradients make the attacks stronger
    relative_cost: ClassVar[float] = 3.0  # rough share of a run: the longest start first (--jobs)
    description: ClassVar[str] = "Adversarial attacks (FGSM, PGD, APGD, black-box), natural corruptions, self-checks"
    Params = RobustnessParams
    emits: ClassVar[tuple[str, ...]] = (
        "clean_accuracy", "robust_accuracy[*]", "attack_success_rate[*]", "empirical_robustness[*]",
        "accuracy_drop[*]", "accuracy_under_corruption[*]", "group_attack_success_gap[*]",
        "group_attack_success_rate[*]", "group_robust_accuracy[*]",
    )

    def params_for(self, preset: str) -> RobustnessParams:
        return preset_params(preset)

    def run(self, ctx: SuiteContext, params: RobustnessParams) -> SuiteOutput:
        from audit.threads import one_thread

        with one_thread():  # small batched products: a second thread spins (system time) rather than helps
            return self._run(ctx, params)

    def _run(self, ctx: SuiteContext, params: RobustnessParams) -> SuiteOutput:
        data, model = ctx.data, ctx.model
        if data.input_kind not in ("tabular", "image"):
            raise SuiteSkipped(f"adversarial attacks need tabular or image inputs, not {data.input_kind}")
        setup, white_box = _setup(ctx, params)
        eps_by_norm = _eps_grid(ctx, params, white_box)
        unit = "pixel units" if setup.is_image else "standard deviations"
        f = Findings()
        if white_box:  # a saturated softmax starves gradients; query-only attacks read log-probabilities instead
            f.validity.append(validity.outputs_are_logits(model.outputs,
                                                          model.scores(setup.space.to_x(setup.u[:256]))))
        clean = setup.clean_correct
        f.measurements.append(report.share_measurement(
            "clean_accuracy", clean, "Share of audited rows classified correctly without any perturbation.",
            {"rows": int(clean.size)}))
        mid_eps = _middle(eps_by_norm["linf"])
        if white_box:
            reference = _white_box(ctx, setup, eps_by_norm, mid_eps, unit, f)
        else:
            reference = gradient_free_findings(setup, model, eps_by_norm["linf"], unit, f)
        natural_findings(setup, ctx.seed, f)
        split = data.test.subset(torch.as_tensor(_rows(ctx, params)))
        f.measurements += group_measurements(split.sensitive, data.sensitive_attributes, reference, clean,
                                             params.min_group_rows, ctx.seed)
        ctx.progress(1, 1, "robustness: done")
        keys = row_keys(split.x, split.y)
        return dataclasses.replace(f.output(), evidence=RowEvidence("audit", keys, f.row_outcomes, {"unit": unit}))


def _rows(ctx: SuiteContext, p: RobustnessParams) -> np.ndarray:
    """The audited rows: a seeded sample of the test split (all of it when it is small)."""
    n = len(ctx.data.test)
    if n <= p.n_rows:
        return np.arange(n)
    return np.sort(ctx.rng(41).choice(n, size=p.n_rows, replace=False))


def _setup(ctx: SuiteContext, p: RobustnessParams) -> tuple[AttackSetup, bool]:
    data, model = ctx.data, ctx.model
    split = data.test.subset(torch.as_tensor(_rows(ctx, p)))
    check_inputs(model, data, split.x)
    space = build_space(data, p.immutable_features)
    scale = space.scale.to(model.device)
    logits = model.can("score")
    view = (RowChunks(LogitView(model.module, scale, model.outputs == "probabilities"),
                      chunk_rows(split.x, model.device)) if logits else LabelView(model, scale)).eval()
    setup = AttackSetup(view, space, space.to_u(split.x), split.y, model.n_classes, model.device, p, ctx.seed,
                        data.input_kind == "image", ctx.tasks)
    return setup, "gradients" in model.capabilities


def _eps_grid(ctx: SuiteContext, p: RobustnessParams, white_box: bool) -> dict[str, tuple[float, ...]]:
    grid = {"linf": tuple(sorted(p.eps_linf or default_eps(ctx.data, "linf", p.sweep)))}
    if p.run_l2 and white_box:
        grid["l2"] = tuple(sorted(p.eps_l2 or default_eps(ctx.data, "l2", p.sweep)))
    for norm, eps in grid.items():
        check_eps(ctx.data, norm, eps)
    return grid


def _middle(eps: tuple[float, ...]) -> float:
    return eps[(len(eps) - 1) // 2] if len(eps) > 1 else eps[0]


def _white_box(ctx: SuiteContext, setup: AttackSetup, eps_by_norm: dict[str, tuple[float, ...]], mid_eps: float,
               unit: str, f: Findings) -> Outcome:
    """Returns the worst-case outcome at the middle L∞ ε (for the by-group figures)."""
    outcomes, adversarial = eps_sweep.run_sweep(setup, eps_by_norm, ctx.fan_out_parts, ctx.progress)
    f.row_outcomes.update(outcome_columns(setup, outcomes, unit))
    f.measurements += whitebox.sweep_measurements(setup, outcomes, unit)
    large = setup.params.large_eps or (1.0 if setup.is_image else 20.0)
    f.validity += whitebox.sweep_checks(setup, outcomes, mid_eps, large, adversarial)
    whitebox.blackbox_check(setup, outcomes, mid_eps, unit, f)
    f.measurements.append(whitebox.deepfool_measurement(setup, unit))
    f.charts += [report.curve_chart(outcomes, norm, unit) for norm in eps_by_norm]
    f.tables.append(report.outcome_table(outcomes, setup.is_image))
    f.notes.append(_sampling_note(setup))
    if setup.is_image:
        shown = setup.order[: setup.params.n_image_examples]  # rows every ε attacked (the first of the look order)
        f.charts.append(report.image_grid(setup.u[shown], {e: adv[shown] for e, adv in adversarial.items()}))
    else:
        whitebox.tabular_extras(setup, adversarial[mid_eps], mid_eps, ctx.data.feature_names, f)
        f.notes.append(_constraint_note(setup))
    if setup.n_classes == 2 and setup.params.run_apgd:
        f.notes.append("APGD with the DLR loss needs three or more classes; on this binary task only APGD-CE ran.")
    return next(o for o in outcomes if o.attack == "worst-case" and o.norm == "linf" and o.eps == mid_eps)


def _sampling_note(setup: AttackSetup) -> str:
    looks = setup.looks
    if len(looks.looks) == 1:
        return f"Every white-box attack ran on all {looks.looks[0]} audited rows at every ε (95% exact intervals)."
    return (f"Sequential sampling: rows join the white-box sweep in a seeded random order and each ε's worst-case "
            f"robust accuracy is looked at after {', '.join(str(k) for k in looks.looks)} rows; an ε stops taking "
            f"rows at the first look where its exact interval is within ±{looks.half_width:g}. The error rate is "
            f"split across the looks ({', '.join(f'{a:g}' for a in looks.alphas)}, Bonferroni), so each reported "
            "interval is a valid 95% interval however early it stopped; each figure records its rows and look. "
            f"Each look's new rows are attacked in shards of at most {setup.params.shard_rows} rows, each with its "
            "own seed, so the figures do not depend on where the shards ran.")


def _constraint_note(setup: AttackSetup) -> str:
    space = setup.space
    return (f"Tabular attacks move only {int(space.mask.sum())} mutable numeric column(s), measured in standard "
            f"deviations and kept inside the observed range; {len(space.immutable_columns)} column(s) of immutable "
            f"features are never touched, and {len(space.categorical)} categorical feature(s) change only to another "
            f"valid category (up to {setup.params.categorical_budget} per row).")
