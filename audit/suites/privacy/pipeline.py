"""The privacy suite's steps, in order; each helper returns what the scorecard shows."""

from __future__ import annotations

import numpy as np
import torch

from audit.errors import SuiteSkipped
from audit.evidence import RowEvidence, row_keys
from audit.suite import SuiteContext, SuiteOutput
from audit.suites.privacy import attacks, attribute, groups, lira_finetune, report
from audit.suites.privacy.label_only import label_only_attack, query_batch
from audit.suites.privacy.sampling import EvaluationSet, balanced_evaluation_set
from audit.suites.privacy.shadow import unsupported_reason
from audit.suites.privacy.suite import PrivacyParams
from audit.types import Measurement, Table, ValidityCheck

SHIFT_AUC_LIMIT = 0.55  # features alone must not separate members from non-members better than this (CI low)
SHADOW_ACCURACY_GAP = 0.10  # shadows must reach the audited model's held-out accuracy within this


def _probabilities(outputs: torch.Tensor, kind: str) -> np.ndarray:
    probs = torch.softmax(outputs.double(), dim=1) if kind == "logits" else outputs.double()
    return (probs / probs.sum(dim=1, keepdim=True)).numpy()


def _lira(ctx: SuiteContext, params: PrivacyParams, outputs: torch.Tensor,
          ev: EvaluationSet) -> tuple[attacks.LiraRun | None, str | None]:
    if params.shadow_models == 0:
        return None, "LiRA not run: shadow_models = 0 in this preset (the full preset trains 16 shadow models)."
    if lira_finetune.is_hf_text_classifier(ctx):  # no recipe in the folder: shadows are fine-tunes by config
        return lira_finetune.lira_for_hf(ctx, params, outputs, ev)
    recipe = ctx.model.recipe
    if recipe is None or "recipe" not in ctx.model.capabilities:
        return None, "LiRA not run: the model has no training recipe, so shadow models cannot be trained like it."
    reason = unsupported_reason(recipe)
    if reason is not None:
        return None, f"LiRA not run: {reason}."
    epochs = params.shadow_epochs or recipe.epochs

    def on_done(done: int, total: int) -> None:
        ctx.progress(2 + done / total, 5, f"privacy: training {params.shadow_models} shadow models")

    run = attacks.lira_attack(ctx, outputs, ev, params.shadow_models, params.shadow_epochs,
                              params.global_variance, ctx.rng(3), on_done, params.shadows_per_task)
    ctx.progress(3, 5, f"privacy: LiRA done ({epochs} epochs)")
    return run, None


def _shadow_validity(run: attacks.LiraRun) -> ValidityCheck:
    gap = abs(run.shadow_accuracy_out - run.target_accuracy_out)
    return ValidityCheck(
        "privacy.shadow_models_match_target", gap <= SHADOW_ACCURACY_GAP,
        f"Shadow models reach {run.shadow_accuracy_out:.3f} accuracy on rows they did not train on; the audited "
        f"model reaches {run.target_accuracy_out:.3f} on non-members (gap {gap:.3f}, allowed "
        f"{SHADOW_ACCURACY_GAP}). Shadows unlike the target make LiRA understate the leak.",
    )


def _shift_check(ev: EvaluationSet, params: PrivacyParams, ctx: SuiteContext) -> ValidityCheck:
    rows = _subsample(ev.labels, params.shift_rows, ctx.rng(5))
    feats = ev.x[rows].reshape(rows.size, -1).numpy()
    shift = attribute.membership_shift(feats, ev.labels[rows], params.bootstrap_resamples, ctx.seed)
    return ValidityCheck(
        "privacy.members_like_nonmembers", shift.ci[0] <= SHIFT_AUC_LIMIT,
        f"A classifier given only the features tells members from non-members with AUC {shift.auc:.3f} "
        f"(95% CI {shift.ci[0]:.3f}-{shift.ci[1]:.3f}, {shift.n} rows). Above {SHIFT_AUC_LIMIT} the two sets differ "
        "in distribution, and attack figures would measure that difference rather than memorisation.",
    )


def _subsample(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `limit` rows, half members and half non-members, sorted."""
    per_side = limit // 2
    parts = [rng.permutation(np.flatnonzero(labels == v))[:per_side] for v in (1, 0)]
    return np.sort(np.concatenate(parts))


def _known_features(ctx: SuiteContext, ev: EvaluationSet, rows: np.ndarray) -> np.ndarray:
    """What an attribute-inference attacker knows: the non-sensitive input columns, plus the label."""
    x = ev.x[rows].reshape(rows.size, -1).numpy()
    sensitive_cols = {c for f in ctx.data.features if f.sensitive or f.name in ctx.data.sensitive_attributes
                      for c in f.columns}
    keep = [c for c in range(x.shape[1]) if c not in sensitive_cols]
    return np.hstack([x[:, keep], ev.y[rows].numpy()[:, None]])


def _attribute_inference(ctx: SuiteContext, params: PrivacyParams, ev: EvaluationSet,
                         probs: np.ndarray) -> tuple[list[Measurement], list[Table], list[str]]:
    members = np.flatnonzero(ev.labels == 1)
    rows = np.sort(ctx.rng(6).permutation(members)[: params.attribute_rows])
    known = _known_features(ctx, ev, rows)
    results, notes = [], []
    for name in ctx.data.sensitive_attributes:
        groups_of = ev.sensitive[name].to_numpy()[rows]
        result = attribute.infer_attribute(name, known, probs[rows], groups_of, params.bootstrap_resamples, ctx.seed)
        if result is None:
            notes.append(f"Attribute inference for {name!r} not run: fewer than two groups with "
                         f"{attribute.MIN_ROWS_PER_GROUP}+ training rows.")
            continue
        results.append(result)
    measurements = [attribute.attribute_measurement(r, params.bootstrap_resamples, ctx.seed) for r in results]
    return measurements, ([attribute.attribute_table(results)] if results else []), notes


def _group_findings(ctx: SuiteContext, params: PrivacyParams,
                    primary: report.AttackSummary) -> tuple[list[Measurement], list[Table]]:
    if not ctx.data.sensitive_attributes:
        return [], []
    o = primary.outcome
    sensitive = {a: o.sensitive[a].to_numpy() for a in ctx.data.sensitive_attributes if a in o.sensitive}
    threshold = groups.best_threshold(primary.curve)
    leaks = groups.group_leakage(o.scores, o.labels, sensitive, threshold, params.group_min_per_side,
                                 params.bootstrap_resamples, ctx.seed)
    return groups.group_measurements(o.key, o.title, threshold, leaks), [groups.group_table(o.title, leaks)]


def _headline(primary: report.AttackSummary) -> tuple[Measurement, str]:
    m, e = primary.metrics, primary.epsilon
    note = (
        f"The strongest attack run ({primary.outcome.title}) separates training rows from unseen rows with AUC "
        f"{m.auc:.3f} and finds {m.tpr_at[1]:.1%} of training rows at a 1% false-positive rate. "
        f"Empirically, ε ≥ {e.value:.2f} at δ = {e.delta:g} with 95% confidence"
        + (" (no evidence against a privacy claim)." if e.value == 0 else
           ": no differential-privacy guarantee with a smaller ε can hold for this model.")
    )
    return report.epsilon_measurement("epsilon_lower_bound", primary), note


def run_privacy(ctx: SuiteContext, params: PrivacyParams) -> SuiteOutput:
    """The suite on one thread (torch, BLAS, OpenMP), as the recipe trains the model: its work is many small
    matrix products (shadow models, per-fold logistic fits, bootstrap cumulative sums), where thread hand-off
    costs more than it saves. On a loaded 2-core runner two threads measured up to 25x slower (a 107 x 107
    eigendecomposition) and shadow training 14x the CPU time."""
    from audit.suites.privacy.roc import forget_resamples
    from audit.threads import one_thread

    try:
        with one_thread():
            return _run_privacy(ctx, params)
    finally:
        forget_resamples()


def _run_privacy(ctx: SuiteContext, params: PrivacyParams) -> SuiteOutput:
    ev = balanced_evaluation_set(ctx.data, params.max_per_side, ctx.rng(1))
    notes: list[str] = []
    if ev.overlap:
        notes.append(f"{ev.overlap} held-out rows are identical to training rows; they were excluded from the "
                     f"non-members (the model has seen those inputs), and the {ev.overlap_members} training rows "
                     "sharing those inputs from the members, so both sides stay alike.")
    if not ctx.model.can("predict_proba"):
        return _label_only_run(ctx, params, ev, notes)
    outputs = ctx.model.scores(ev.x, query_batch(ev.x))
    probs = _probabilities(outputs, ctx.model.outputs)
    outcomes = attacks.threshold_attacks(outputs, ctx.model.outputs, ev)
    if params.art_attack_model == "none":
        notes.append("ART's black-box membership attack was not run (privacy.art_attack_model = \"none\", the quick "
                     "preset's setting); the attacks table lists those that ran.")
    else:
        ctx.progress(1, 5, "privacy: ART black-box attack")
        outcomes.append(attacks.art_attack(probs, ev, ctx.model.n_classes, params.art_attack_model, ctx.rng(2)))
    if params.label_only_queries:
        outcomes.append(_label_only(ctx, params, ev))
    ctx.progress(2, 5, "privacy: LiRA")
    lira, lira_note = _lira(ctx, params, outputs, ev)
    validity = [_shift_check(ev, params, ctx)]
    if lira is not None:
        outcomes += [lira.online, lira.offline]
        validity.append(_shadow_validity(lira))
    else:
        notes.append(str(lira_note))
    summaries = [report.summarise(o, params.bootstrap_resamples, ctx.seed, ctx.rng(10 + i), params.delta)
                 for i, o in enumerate(outcomes)]
    measurements = [m for s in summaries for m in report.attack_measurements(s, params.bootstrap_resamples)]
    # The headline attack is fixed in advance (LiRA online, else the loss attack) so its ε bound keeps 95%.
    primary = next(s for s in summaries if s.outcome.key == ("lira_online" if lira else "loss"))
    headline, headline_note = _headline(primary)
    ctx.progress(4, 5, "privacy: leakage by group and attribute inference")
    group_ms, group_tables = _group_findings(ctx, params, primary)
    attr_ms, attr_tables, attr_notes = _attribute_inference(ctx, params, ev, probs)
    ctx.progress(5, 5, "privacy: done")
    return SuiteOutput(
        measurements=tuple([headline, *measurements, *group_ms, *attr_ms]),
        tables=(report.attacks_table(summaries), *group_tables, *attr_tables),
        charts=(report.roc_chart(summaries),),
        validity=tuple(validity),
        notes=tuple([headline_note, *notes, *attr_notes]),
        evidence=_membership_evidence(ev, outcomes),
    )


def _label_only(ctx: SuiteContext, params: PrivacyParams, ev: EvaluationSet) -> attacks.AttackOutcome:
    return label_only_attack(ctx.model, ctx.data, ev, params.label_only_sigma, params.label_only_queries,
                             int(ctx.rng(7).integers(2**31)))


LABEL_ONLY_SKIPS = (
    "Loss threshold, ART black-box and LiRA attacks and attribute inference not run: they need class "
    "probabilities, and this model gives only predicted classes (a model with predict_proba enables them)."
)


def _label_only_run(ctx: SuiteContext, params: PrivacyParams, ev: EvaluationSet, notes: list[str]) -> SuiteOutput:
    """Predicted classes only: the label-only attack is the headline (fixed in advance), with Yeom's rule beside it."""
    if params.label_only_queries == 0:
        raise SuiteSkipped("the model gives only predicted classes and label_only_queries = 0: no membership "
                           "attack can run (set privacy.label_only_queries above 0)")
    predicted = torch.as_tensor(ctx.model.predict(ev.x, query_batch(ev.x)))
    outcomes = [_label_only(ctx, params, ev),
                attacks.AttackOutcome("correctness", "Correct-prediction rule (Yeom et al.)",
                                      (predicted == ev.y).double().numpy(), ev.labels, ev.sensitive,
                                      {"reference": "Yeom et al. 2018", "rows": int(ev.labels.size),
                                       "score": "1 if the prediction is correct else 0"})]
    summaries = [report.summarise(o, params.bootstrap_resamples, ctx.seed, ctx.rng(10 + i), params.delta)
                 for i, o in enumerate(outcomes)]
    measurements = [m for s in summaries for m in report.attack_measurements(s, params.bootstrap_resamples)]
    headline, headline_note = _headline(summaries[0])
    group_ms, group_tables = _group_findings(ctx, params, summaries[0])
    ctx.progress(5, 5, "privacy: done")
    return SuiteOutput(
        measurements=tuple([headline, *measurements, *group_ms]),
        tables=(report.attacks_table(summaries), *group_tables), charts=(report.roc_chart(summaries),),
        validity=(_shift_check(ev, params, ctx),), notes=tuple([headline_note, *notes, LABEL_ONLY_SKIPS]),
        evidence=_membership_evidence(ev, outcomes),
    )


def _membership_evidence(ev: EvaluationSet, outcomes: list[attacks.AttackOutcome]) -> RowEvidence:
    """Per evaluation row: member or not, and each attack's score."""
    keys = tuple(f"{k}:{'member' if m else 'non-member'}" for k, m in zip(row_keys(ev.x, ev.y), ev.labels, strict=True))
    columns = {"member": ev.labels.astype(np.int64)}
    for o in outcomes:  # NaN on rows an attack did not score (ART's attack model trains on the others)
        column = np.full(len(ev.labels), np.nan)
        column[np.arange(len(ev.labels)) if o.rows is None else o.rows] = o.scores
        columns[f"score[{o.key}]"] = column
    return RowEvidence("membership", keys, columns, {"strata": "member"})
