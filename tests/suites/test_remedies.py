"""The remedies suite end to end on a synthetic model: paired re-audit figures against independent references."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import accuracy_score, roc_auc_score

from audit import gating
from audit.errors import AuditInputError, SuiteSkipped
from audit.policy import build_policy
from audit.stats import bootstrap_indices
from audit.suite import Output, SuiteContext, validate_params
from audit.suites.remedies import RemediesParams, RemediesSuite, paired
from audit.testing import synthetic_tabular, tabular_model, wrap_module
from audit.types import Measurement, SuiteResult, SuiteStatus, Verdict

pytest.importorskip("opacus")

SMALL = RemediesParams(remedies=("adversarial_training", "dp_sgd", "distillation", "fairness_constrained"),
                       attack_steps=5, attack_rows=200, membership_rows=200, bootstrap_resamples=200,
                       train_attack_steps=2, dp_batch_size=32)
TIMING = ("throughput_rows_per_s", "throughput_ratio", "training_seconds")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = synthetic_tabular(n=800, seed=11)
    model = tabular_model(data, seed=11, epochs=60, hidden=(16,))
    model = dataclasses.replace(model, recipe=dataclasses.replace(model.recipe, batch_size=64, epochs=8, lr=0.01))
    ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=tmp_path_factory.mktemp("cache"))
    return data, model, ctx, RemediesSuite().run(ctx, SMALL)


def _by_name(output) -> dict:
    return {m.name: m for m in output.measurements}


def test_every_measurement_is_declared_and_validity_holds(setup):
    _, _, _, out = setup
    names = [m.name for m in out.measurements]
    assert len(names) == len(set(names))
    assert [n for n in names if not any(Output("remedies", p).matches(n) for p in RemediesSuite.emits)] == []
    assert {v.name: v.passed for v in out.validity} == {
        "dp_sgd_reached_target": True, "dp_sgd_lower_bound_below_accountant": True,
        "adversarial_training_attack_converged": True, "fairness_matches_fairlearn": True}


def test_baseline_figures_equal_sklearn_and_fairlearn_on_the_original_predictions(setup):
    data, model, _, out = setup
    m = _by_name(out)
    y, pred = data.test.y.numpy(), model.predict(data.test.x)
    assert m["original.accuracy"].value == pytest.approx(accuracy_score(y, pred))
    for attribute in ("sex", "race"):
        groups = data.test.sensitive[attribute]
        assert m[f"original.dp_difference[{attribute}]"].value == pytest.approx(
            demographic_parity_difference(y, pred, sensitive_features=groups))
        assert m[f"original.equalized_odds_difference[{attribute}]"].value == pytest.approx(
            equalized_odds_difference(y, pred, sensitive_features=groups))
        frame = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=groups)
        assert m[f"original.accuracy_gap[{attribute}]"].value == pytest.approx(frame.difference())


def test_membership_auc_resamples_are_exact_with_integer_multiplicities():
    rng = np.random.default_rng(1)
    scores, members = np.round(rng.random(300), 2), rng.random(300) < 0.5  # ties, as losses often have
    as_float = paired.auc_samples(scores, members, paired.weights(300, 150, seed=5))
    as_int = paired.auc_samples(scores, members, paired.weights(300, 150, seed=5, dtype=np.int32))
    assert np.array_equal(as_float.values, as_int.values)
    idx = bootstrap_indices(300, 150, 5)
    for r in (0, 77):
        assert as_int.values[1 + r] == pytest.approx(roc_auc_score(members[idx[r]], scores[idx[r]]), abs=1e-12)


def test_paired_changes_resample_both_models_on_the_same_rows():
    rng = np.random.default_rng(0)
    a, b = rng.random(300) < 0.8, rng.random(300) < 0.7
    w = paired.weights(300, 150, seed=5)
    change = paired.mean_samples(a.astype(float), w).minus(paired.mean_samples(b.astype(float), w))
    idx = bootstrap_indices(300, 150, 5)  # the same draws, taken as explicit resamples
    assert change.point == pytest.approx(a.mean() - b.mean())
    assert np.allclose(change.values[1:], a[idx].mean(axis=1) - b[idx].mean(axis=1))
    scores, members = rng.random(300), rng.random(300) < 0.5
    assert paired.auc_samples(scores, members, w).point == pytest.approx(roc_auc_score(members, scores))


def test_membership_figures_equal_sklearn_on_the_loss_scores(setup):
    data, model, ctx, out = setup
    from audit.suites.privacy.threshold import loss_scores
    from audit.suites.remedies.reaudit import audit_rows

    rows = audit_rows(data, SMALL, ctx.seed, "cpu")
    ev = rows.membership
    scores = loss_scores(model.scores(ev.x), ev.y, "logits")
    assert _by_name(out)["original.membership_auc[loss]"].value == pytest.approx(roc_auc_score(ev.labels, scores))
    assert ev.n_per_side == 200


def test_tradeoff_table_marks_better_or_worse_only_where_the_ci_excludes_zero(setup):
    _, _, _, out = setup
    table = next(t for t in out.tables if t.id == "tradeoffs")
    assert [r[0] for r in table.rows] == ["original", "adversarial_training", "dp_sgd", "distillation",
                                          "fairness_constrained"]
    marked = 0
    for row in table.rows[1:]:
        for cell in row[1:6]:
            found = re.search(r"\(([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\](, (better|worse))?\)", cell)
            if found is None:
                continue
            lo, hi = float(found.group(2)), float(found.group(3))
            assert (found.group(5) is not None) == (lo > 0 or hi < 0), cell
            marked += found.group(5) is not None
    assert marked >= 1
    assert {c.id for c in out.charts} == {"accuracy_vs_disparity", "accuracy_vs_worst_group_gap",
                                          "robust_accuracy_vs_membership_auc"}


def test_remedies_change_what_they_target(setup):
    _, model, _, out = setup
    m = _by_name(out)
    assert m["fairness_constrained.constrained_gap_change"].value < 0
    assert m["fairness_constrained.constrained_gap_change"].ci[1] < 0
    assert m["distillation.parameter_ratio"].value < 0.6
    assert m["dp_sgd.accountant_epsilon"].value <= SMALL.dp_epsilon
    assert m["dp_sgd.epsilon_lower_bound[loss]"].value <= m["dp_sgd.accountant_epsilon"].value
    assert {f"distillation.fairness_drift[{a}]" for a in ("sex", "race")} <= set(m)


def test_the_same_seed_gives_the_same_figures_and_findings_link_to_their_remedy(setup, tmp_path):
    _, _, ctx, out = setup
    earlier = {
        "fairness": SuiteResult("fairness", "fairness", SuiteStatus.OK, measurements=(
            Measurement("dp_difference[sex]", 0.31), Measurement("equalized_odds_difference[race]", 0.2))),
        "robustness": SuiteResult("robustness", "robustness", SuiteStatus.OK, measurements=(
            Measurement("robust_accuracy[linf,eps=0.1]", 0.7), Measurement("robust_accuracy[pgd,linf,eps=0.1]", 0.7))),
        "privacy": SuiteResult("privacy", "privacy", SuiteStatus.OK, measurements=(
            Measurement("membership_auc[lira_online]", 0.6),)),
    }
    # an empty cache folder: every remedy is trained again, so this checks that training is deterministic
    linked_ctx = dataclasses.replace(ctx, previous=earlier, reads=frozenset(RemediesSuite.reads), cache_dir=tmp_path)
    again = RemediesSuite().run(linked_ctx, SMALL)
    assert not any("Reused without training" in n for n in again.notes)
    first = {m.name: (m.value, m.ci) for m in out.measurements if not m.name.split(".")[1].startswith(TIMING)}
    second = {m.name: (m.value, m.ci) for m in again.measurements if not m.name.split(".")[1].startswith(TIMING)}
    assert first == second
    table = next(t for t in again.tables if t.id == "remedy_for_each_finding")
    assert [(r[0], r[2]) for r in table.rows] == [
        ("fairness.dp_difference[sex]", "fairness_constrained"),
        ("fairness.equalized_odds_difference[race]", "fairness_constrained"),
        ("robustness.robust_accuracy[linf,eps=0.1]", "adversarial_training"),
        ("privacy.membership_auc[lira_online]", "dp_sgd")]
    m = _by_name(out)
    assert table.rows[0][3].startswith(f"{m['fairness_constrained.dp_difference[sex]'].value:.4f}")
    assert "remedy_for_each_finding" not in {t.id for t in out.tables}  # nothing to link when the others did not run


def test_default_policy_only_warns_on_remedies(setup):
    _, _, _, out = setup
    result = SuiteResult("remedies", "remedies", SuiteStatus.OK, measurements=out.measurements, validity=out.validity)
    checks = [c for c in gating.checks_for(result, build_policy([], "value")) if c.threshold is not None]
    assert checks and all(c.threshold.severity == "warn" for c in checks)
    assert not any(gating.is_blocking(c) for c in checks)
    by_key = {c.key: c for c in checks}
    assert by_key["remedies.fairness_constrained.constrained_gap_change"].verdict is Verdict.PASS


def test_without_a_recipe_or_with_bad_settings_the_suite_says_why(setup):
    data, model, ctx, _ = setup
    assert "recipe" in RemediesSuite.requires
    plain = wrap_module(model.module, data)
    assert "recipe" not in plain.capabilities
    with pytest.raises(SuiteSkipped, match="foundation"):
        RemediesSuite().run(ctx, dataclasses.replace(SMALL, remedies=("foundation",)))
    with pytest.raises(AuditInputError, match="fairness_attribute"):
        RemediesSuite().run(ctx, dataclasses.replace(SMALL, fairness_attribute="income"))
    with pytest.raises(AuditInputError, match="remedies.remedies"):
        validate_params("remedies", dataclasses.replace(SMALL, remedies=("dp",)))


def test_quick_preset_trains_tabular_remedies_briefly_and_says_so(setup):
    from audit.suites.remedies.suite import _epochs_note, remedy_recipe

    _, _, ctx, _ = setup
    quick = RemediesSuite().params_for("quick")
    assert "foundation" not in quick.remedies and quick.epochs == 2
    assert remedy_recipe(ctx, quick).epochs == 2 and remedy_recipe(ctx, SMALL).epochs == ctx.model.recipe.epochs
    assert "2 epoch(s)" in _epochs_note(ctx, quick)[0] and _epochs_note(ctx, SMALL) == []
    assert validate_params("remedies", quick) is quick


def test_a_remedy_is_trained_once_and_reused_only_when_everything_that_determines_it_is_the_same(setup, tmp_path):
    from audit.suites.remedies import store

    data, model, ctx, out = setup
    stored = sorted((ctx.cache_dir / store.FOLDER).glob("*.safetensors"))
    assert len(stored) == 4  # one per remedy, written by the first run
    again = RemediesSuite().run(ctx, SMALL)
    first, second = _by_name(out), _by_name(again)
    assert {k: (m.value, m.ci) for k, m in first.items() if "throughput" not in k} == \
        {k: (m.value, m.ci) for k, m in second.items() if "throughput" not in k}  # training seconds: the first run's
    assert second["dp_sgd.training_seconds"].details["reused_training"] is True
    assert first["dp_sgd.training_seconds"].details["reused_training"] is False
    note = next(n for n in again.notes if n.startswith("Reused without training again"))
    assert all(r in note for r in ("adversarial_training", "dp_sgd", "distillation", "fairness_constrained"))
    tradeoffs = next(t for t in again.tables if t.id == "tradeoffs")
    assert all("reused from an earlier run" in row[-1] for row in tradeoffs.rows[1:])  # the "how" column
    # a different setting or seed is a different remedy: trained, not reused (and stored beside the others)
    changed = RemediesSuite().run(ctx, dataclasses.replace(SMALL, remedies=("dp_sgd",), dp_epsilon=3.0))
    assert not any(n.startswith("Reused without training again") for n in changed.notes)
    reseeded = RemediesSuite().run(dataclasses.replace(ctx, seed=1), dataclasses.replace(SMALL, remedies=("dp_sgd",)))
    assert not any(n.startswith("Reused without training again") for n in reseeded.notes)
    assert len(list((ctx.cache_dir / store.FOLDER).glob("*.safetensors"))) == 6
    # an unreadable stored remedy is trained again and replaced
    for path in stored:
        path.write_bytes(b"not a safetensors file")
    retrained = RemediesSuite().run(ctx, SMALL)
    assert not any(n.startswith("Reused without training again") for n in retrained.notes)
    assert {k: m.value for k, m in _by_name(retrained).items() if not k.split(".")[1].startswith(TIMING)} == \
        {k: m.value for k, m in first.items() if not k.split(".")[1].startswith(TIMING)}
