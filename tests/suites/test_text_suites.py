"""Text suites on the tiny encoder: figures re-derived independently (scikit-learn, fairlearn, direct loops).

The foundation extra is part of `.[dev]`, so these run (never skip) wherever the tests run."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from audit.errors import AuditInputError
from audit.foundation.text_checks import swap_gender
from audit.suite import SuiteContext, validate_params
from audit.suites.text.efficiency import TextEfficiencySuite
from audit.suites.text.explainability import TextExplainabilitySuite
from audit.suites.text.fairness import TextFairnessSuite
from audit.suites.text.robustness import TextRobustnessSuite


@pytest.fixture(scope="module")
def ctx() -> SuiteContext:
    from audit.foundation.testing import tiny_text_reference

    home = Path(os.environ["AUDIT_HOME"]) / "tiny-text"
    home.mkdir(parents=True, exist_ok=True)
    model, data = tiny_text_reference(home)
    return SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=home)


def _by_name(output):
    return {m.name: m for m in output.measurements}


def _direct_predictions(ctx, texts):
    emb = ctx.model.encoder.encode(list(texts), convert_to_tensor=True).float()
    return ctx.model.predict(emb)


def test_gender_flip_rate_matches_direct_computation(ctx):
    suite = TextFairnessSuite()
    params = dataclasses.replace(suite.params_for("quick"), seat_tests=(), n_rows=60)
    out = _by_name(suite.run(ctx, params))
    from audit.suites.text._common import sample_text_rows

    rows = sample_text_rows(ctx, 60)
    before, after = _direct_predictions(ctx, rows.texts), _direct_predictions(ctx, [swap_gender(t) for t in rows.texts])
    flips = before != after
    assert out["counterfactual_flip_rate[gendered terms]"].value == pytest.approx(flips.mean())
    male = rows.groups["sex"].to_numpy() == "Male"
    assert out["counterfactual_flip_rate[sex=Male]"].value == pytest.approx(flips[male].mean())
    assert out["counterfactual_flip_rate[sex=Male]"].n == male.sum()
    lo, hi = out["counterfactual_flip_rate[gendered terms]"].ci
    assert lo <= flips.mean() <= hi
    assert out["counterfactual_flip_rate[race]"].n == 60
    assert out["counterfactual_flip_rate[race=Asian]"].insufficient_reason  # too few rows in this sample


def test_fairness_suite_reports_seat_and_is_deterministic(ctx):
    suite = TextFairnessSuite()
    params = dataclasses.replace(suite.params_for("quick"), n_rows=30, seat_permutations=300, seat_resamples=50,
                                 seat_tests=("gender_career",))
    first, second = suite.run(ctx, params), suite.run(ctx, params)
    assert first == second
    seat = {m.name: m for m in first.measurements if m.name.startswith("seat_effect_size")}
    assert set(seat) == {"seat_effect_size[gender_career]"}
    with pytest.raises(AuditInputError, match="seat_tests.*'gender_carrer' is not"):
        validate_params("text-fairness", dataclasses.replace(params, seat_tests=("gender_carrer",)))
    assert all(0 < m.details["p_value"] <= 1 for m in seat.values())
    assert first.charts[0].heatmap.row_labels == ("White", "Black", "Asian", "Native American")
    assert all(v.passed for v in first.validity)


def test_robustness_accuracy_matches_sklearn(ctx):
    from sklearn.metrics import accuracy_score

    from audit.suites.text._common import sample_text_rows

    suite = TextRobustnessSuite()
    out = suite.run(ctx, dataclasses.replace(suite.params_for("quick"), n_rows=60))
    m = _by_name(out)
    rows = sample_text_rows(ctx, 60)
    assert m["accuracy[clean]"].value == pytest.approx(accuracy_score(rows.y, _direct_predictions(ctx, rows.texts)))
    drop = m["accuracy_drop[typos,rate=0.1]"].value
    assert drop == pytest.approx(m["accuracy[clean]"].value - m["accuracy[typos,rate=0.1]"].value)
    assert 0 < m["prediction_flip_rate[word_drops,rate=0.1]"].value < 1  # the tiny model does react
    assert out.charts[0].series[0].x == (0.0, 0.1)


def test_explainability_occlusion_matches_direct_computation(ctx):
    from audit.foundation.serialise import serialise_frame
    from audit.suites.text._common import sample_text_rows

    suite = TextExplainabilitySuite()
    out = suite.run(ctx, dataclasses.replace(suite.params_for("quick"), n_rows=30))
    m = _by_name(out)
    rows = sample_text_rows(ctx, 30)

    def p_pos(texts):
        emb = ctx.model.encoder.encode(list(texts), convert_to_tensor=True).float()
        return ctx.model.predict_proba(emb)[:, 1]

    effect = p_pos(rows.texts) - p_pos(serialise_frame(rows.raw, omit=["education"]))
    assert m["field_importance[education]"].value == pytest.approx(np.abs(effect).mean(), abs=1e-6)
    assert m["field_direction[education]"].value == pytest.approx(effect.mean(), abs=1e-6)
    assert out.validity[0].passed
    assert {r[0] for r in out.tables[0].rows} >= {"age", "sex", "race", "education", "capital"}


def test_efficiency_fidelity_matches_sklearn_and_fairlearn(ctx):
    import torch
    from fairlearn.metrics import demographic_parity_difference
    from sklearn.metrics.pairwise import cosine_similarity

    from audit.suites.text._common import sample_text_rows
    from audit.suites.text._variants import make_variant

    suite = TextEfficiencySuite()
    params = dataclasses.replace(suite.params_for("quick"), n_rows=160, n_timing=16, variants=("int8", "lora-merged"))
    out = suite.run(ctx, params)
    m = _by_name(out)
    rows = sample_text_rows(ctx, 160)
    assert min(rows.groups["sex"].value_counts()) >= 30  # both groups enter the parity gap
    base = ctx.model.encoder.encode(list(rows.texts), convert_to_tensor=True).float()
    low = make_variant(ctx.model.encoder, "int8").encode(list(rows.texts), convert_to_tensor=True).float()
    cos = np.diag(cosine_similarity(low.numpy(), base.numpy()))
    assert m["embedding_cosine[int8]"].value == pytest.approx(cos.mean(), abs=1e-5)
    sex = rows.groups["sex"].to_numpy()
    expected = (demographic_parity_difference(rows.y, ctx.model.predict(low), sensitive_features=sex)
                - demographic_parity_difference(rows.y, ctx.model.predict(base), sensitive_features=sex))
    assert m["dp_difference_drift[int8,sex]"].value == pytest.approx(expected)
    assert m["throughput[fp32]"].value > 0 and m["size_bytes[int8]"].value < m["size_bytes[fp32]"].value
    assert m["peak_memory_bytes[int8]"].value > 0 and m["latency_ms[int8]"].value > 0
    assert any("lora-merged was not measured: no LoRA adapter" in n for n in out.notes)
    assert isinstance(base, torch.Tensor)



def test_efficiency_drift_reads_the_variant_embeddings_an_earlier_run_kept(ctx, tmp_path, monkeypatch):
    """The drift rows' int8 embeddings are kept on disk per variant: a second run encodes only in its timed calls (at
    most `n_timing` texts a call) and its drift figures equal the first run's (which match a direct computation:
    test_efficiency_fidelity_matches_sklearn_and_fairlearn)."""
    from audit.suites.text import _variant_costs

    suite = TextEfficiencySuite()
    params = dataclasses.replace(suite.params_for("quick"), n_rows=120, n_timing=16, single_calls=2,
                                 variants=("int8",))
    here = dataclasses.replace(ctx, cache_dir=tmp_path)
    calls: list[int] = []
    real = _variant_costs.encode_texts

    def counted(encoder, texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(len(texts))
        return real(encoder, texts, *args, **kwargs)

    monkeypatch.setattr(_variant_costs, "encode_texts", counted)
    first = _by_name(suite.run(here, params))
    assert max(calls) == 120  # the drift rows, encoded in one call as without a cache
    calls.clear()
    second = _by_name(suite.run(here, params))
    assert calls and max(calls) <= 16
    drift = [n for n in first if n.split("[")[0] in ("embedding_cosine", "prediction_agreement", "accuracy_drift",
                                                     "dp_difference_drift", "equalized_odds_difference_drift")]
    assert len(drift) >= 4
    np.testing.assert_equal([second[n].value for n in drift], [first[n].value for n in drift])  # NaN equals NaN
    np.testing.assert_equal([second[n].ci for n in drift], [first[n].ci for n in drift])
    assert second["throughput[int8]"].details["torch_threads"] >= 1

def test_int8_variant_quantises_linear_layers(ctx):
    from audit.suites.text._variants import make_variant

    int8 = make_variant(ctx.model.encoder, "int8")
    kinds = {type(m).__module__ for m in int8.modules()}
    assert any("quantized" in k for k in kinds)
    assert any(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in int8.modules())


def test_text_suites_skip_models_without_an_encoder():
    from audit.errors import SuiteSkipped
    from audit.testing import synthetic_tabular, tabular_model

    data = synthetic_tabular(200)
    plain = SuiteContext(model=tabular_model(data, epochs=5), data=data, seed=0, preset="quick", cache_dir=Path("."))
    for suite in (TextFairnessSuite(), TextRobustnessSuite(), TextExplainabilitySuite(), TextEfficiencySuite()):
        assert "input:text" in suite.requires
        with pytest.raises(SuiteSkipped):
            suite.run(plain, suite.params_for("quick"))


def test_default_text_policy_gates_measurements_the_suites_produce(ctx):
    import tomllib
    from importlib import resources

    from audit.policy import Policy, parse_thresholds

    table = tomllib.loads(resources.files("audit.policy").joinpath("text.toml").read_text())
    policy = Policy(tuple(t for t in parse_thresholds(table, "value", "text.toml").values() if t is not None))
    suite = TextRobustnessSuite()
    out = suite.run(ctx, dataclasses.replace(suite.params_for("quick"), n_rows=20, resamples=20))
    gated = [m.name for m in out.measurements if policy.match(f"text-robustness.{m.name}") is not None]
    assert sorted(gated) == ["accuracy_drop[typos,rate=0.1]", "accuracy_drop[word_drops,rate=0.1]"]
    assert policy.match("text-fairness.counterfactual_flip_rate[gendered terms]").severity == "fail"
    assert policy.match("text-fairness.counterfactual_flip_rate[sex=Male]").max == 0.05
    assert policy.match("text-fairness.seat_effect_size[gender_career]").severity == "warn"
    assert policy.match("text-efficiency.accuracy_drift[int8]").min == -0.02


def test_embedding_space_attack_matches_art_pgd(ctx):
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from audit.suites.text._embedding_attack import attack_embeddings

    x, y = ctx.data.test.x, ctx.data.test.y
    assert torch.allclose(x.norm(dim=1), torch.ones(len(x)), atol=1e-4)  # unit norm: relative eps == absolute eps
    eps = 0.005
    ours = attack_embeddings(ctx.model.module, x, y, eps, 20, torch.Generator().manual_seed(0))
    clf = PyTorchClassifier(model=ctx.model.module, loss=torch.nn.CrossEntropyLoss(), input_shape=(x.shape[1],),
                            nb_classes=2)
    art = ProjectedGradientDescent(clf, norm=2, eps=eps, eps_step=2.5 * eps / 20, max_iter=20, num_random_init=0,
                                   batch_size=512, verbose=False)
    adversarial = art.generate(x.numpy(), y=np.eye(2)[y.numpy()])
    art_accuracy = (clf.predict(adversarial).argmax(1) == y.numpy()).mean()
    assert ours.adversarial_correct.float().mean().item() == pytest.approx(art_accuracy, abs=0.02)
    assert ours.adversarial_correct.float().mean() <= ours.noise_correct.float().mean()


def test_robustness_suite_labels_the_embedding_attack(ctx):
    suite = TextRobustnessSuite()
    params = dataclasses.replace(suite.params_for("quick"), n_rows=40, typo_rates=(), drop_rates=(),
                                 embedding_eps=(0.002, 0.01), substitution_rows=0, resamples=50)
    out = suite.run(ctx, params)
    m = _by_name(out)
    assert m["robust_accuracy[embedding-l2,eps=0.01]"].value <= m["robust_accuracy[embedding-l2,eps=0.002]"].value
    assert "not the text" in m["robust_accuracy[embedding-l2,eps=0.01]"].description
    assert {v.name for v in out.validity} == {"embedding_attack_beats_noise", "embedding_attack_monotone"}
    assert all(v.passed for v in out.validity)
