"""LiRA on a Hugging Face text classifier: shadow fine-tunes by the recipe in config, on the CPU only when forced."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from audit.errors import AuditInputError
from audit.models.hf_testing import audited_text_classifier, text_rows, tiny_classifier_folder, training_rows
from audit.suite import SuiteContext
from audit.suites.privacy.suite import PrivacySuite

RECIPE = {"epochs": 2, "lr": 5e-3, "batch_size": 32}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> SuiteContext:
    folder = Path(os.environ["AUDIT_HOME"]) / "tiny-hf" / "varied-control"
    if not (folder / "model.safetensors").is_file():
        tiny_classifier_folder(folder, "control", steps=40, n_train=96, varied=True)
    root = tmp_path_factory.mktemp("lira_finetune")
    training_rows(96, 0, "control", varied=True).to_csv(root / "train.csv", index=False)
    text_rows(96, 77, "control", varied=True).to_csv(root / "audit.csv", index=False)
    model, data = audited_text_classifier(folder, root / "audit.csv", root / "train.csv")
    return SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=root / "cache")


def _params(**changes):
    quick = PrivacySuite().params_for("quick")
    return dataclasses.replace(quick, bootstrap_resamples=100, label_only_queries=2, **changes)


def test_shadow_finetunes_are_skipped_on_the_cpu_unless_forced(ctx):
    from audit.suites.privacy.finetune_recipe import parse_recipe
    from audit.suites.privacy.lira_finetune import skip_reason

    assert "no fine-tuning recipe" in skip_reason(ctx, None, 4, forced=True)
    unforced = skip_reason(ctx, parse_recipe(RECIPE), 4, forced=False)
    assert "4 shadow fine-tunes" in unforced and "shadow_finetunes_on_cpu = true" in unforced
    assert skip_reason(ctx, parse_recipe(RECIPE), 4, forced=True) is None


def test_forced_shadow_finetunes_run_lira_with_the_count_in_the_scorecard(ctx):
    params = _params(shadow_models=4, finetune_recipe=RECIPE, shadow_finetunes_on_cpu=True, art_attack_model="gb")
    out = PrivacySuite().run(ctx, params)  # ART's attack asked for explicitly: the quick preset leaves it out
    by_name = {m.name: m for m in out.measurements}
    lira = by_name["membership_auc[lira_online]"]
    assert lira.details["shadow_finetunes"] == 4 and lira.details["in_models_per_example"] == 2
    assert "lr 0.005" in lira.details["recipe"]
    assert 0.0 <= lira.value <= 1.0 and "membership_auc[lira_offline]" in by_name
    assert {"membership_auc[loss]", "membership_auc[art_blackbox]", "membership_auc[label_only]"} <= set(by_name)
    assert by_name["membership_auc[label_only]"].details["perturbation"] == "inner tokens dropped"
    assert any(v.name == "privacy.shadow_models_match_target" for v in out.validity)
    assert by_name["epsilon_lower_bound"].details["attack"] == "lira_online"  # LiRA online is the headline


@pytest.mark.parametrize("overrides, message", [
    ({"finetune_recipe": {"epochs": 0, "lr": 1e-3}}, "finetune_recipe.epochs"),
    ({"finetune_recipe": {"lr": 1e-3}}, "needs epochs"),
    ({"finetune_recipe": {"epochs": 1, "lr": 1e-3, "optimiser": "sgd"}}, "unknown key"),
    ({"shadow_finetunes_on_cpu": "yes"}, "must be bool"),
])
def test_bad_finetune_settings_are_refused(overrides, message):
    from audit.registry import apply_overrides

    with pytest.raises(AuditInputError, match=message):
        apply_overrides("privacy", PrivacySuite().params_for("full"), overrides)


def test_shadows_start_from_the_named_checkpoint_or_fresh_weights(ctx):
    import torch

    from audit.suites.privacy.finetune_recipe import FineTuneRecipe
    from audit.suites.privacy.lira_finetune import _fresh_model

    audited = ctx.model.module.model
    folder = Path(os.environ["AUDIT_HOME"]) / "tiny-hf" / "varied-control"
    from_folder = _fresh_model(audited, FineTuneRecipe(1, 1e-3, start=str(folder)))
    fresh = _fresh_model(audited, FineTuneRecipe(1, 1e-3))
    weight = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(from_folder.state_dict()[weight], audited.state_dict()[weight])
    assert not torch.equal(fresh.state_dict()[weight], audited.state_dict()[weight])
    assert fresh.config.num_labels == from_folder.config.num_labels == audited.config.num_labels


def test_two_forced_shadow_finetunes_are_deterministic(ctx):
    import numpy as np
    import torch

    from audit.suites.privacy.finetune_recipe import parse_recipe
    from audit.suites.privacy.lira_finetune import shadow_logits
    from audit.suites.privacy.sampling import balanced_evaluation_set
    from audit.suites.privacy.shadow import paired_assignment

    ev = balanced_evaluation_set(ctx.data, 50, np.random.default_rng(0))
    keep = paired_assignment(2, ev.labels.size, np.random.default_rng(1))
    first = shadow_logits(ctx, ev, keep, parse_recipe(RECIPE))
    again = shadow_logits(ctx, ev, keep, parse_recipe(RECIPE))
    assert first.shape == (2, ev.labels.size, 2)
    assert torch.equal(first, again)  # same seed, same shadows
    assert not torch.equal(first[0], first[1])  # complementary halves give different models
