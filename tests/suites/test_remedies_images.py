"""Image remedies: trained on a stated seeded subset for a few epochs, adversarial training fine-tunes the audited
weights, membership members come from the rows every variant trained on."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from audit.data.types import Dataset, Split
from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suite import SuiteContext
from audit.suites.remedies import RemediesParams, RemediesSuite
from audit.suites.remedies.reaudit import audit_rows
from audit.suites.remedies.suite import _image_scope
from audit.testing import wrap_module

pytest.importorskip("opacus")

RECIPE = Recipe(name="tiny-cnn", dataset="blobs", architecture="mnist-cnn",
                arch_kwargs={"n_classes": 3, "channels": [4, 8], "hidden": 16}, lr=5e-3, epochs=3, batch_size=32)
SMALL = RemediesParams(remedies=("adversarial_training", "dp_sgd", "distillation"), attack_steps=3,
                       membership_rows=200, bootstrap_resamples=100, train_attack_steps=2, image_dp_batch_size=16,
                       image_train_rows=120, image_epochs=1, image_scratch_epochs=2, image_attack_rows=60)


def _split(n: int, seed: int) -> Split:
    """Three classes: a bright square in one of three places on a dim noisy 28x28 image."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=gen)
    x = 0.2 * torch.rand(n, 1, 28, 28, generator=gen)
    for label in range(3):
        x[y == label, :, 4 + 8 * label : 10 + 8 * label, 10:16] += 0.7
    return Split(x=x.clamp(0, 1), y=y, sensitive=pd.DataFrame(index=range(n)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = Dataset(name="blobs", task="multiclass", class_names=("0", "1", "2"), input_kind="image",
                   feature_names=(), features=(), sensitive_attributes=(), train=_split(400, 1), test=_split(150, 2),
                   source="test", sha256="t")
    model = wrap_module(train_model(RECIPE, data.train), data, name="tiny-cnn", recipe=RECIPE)
    ctx = SuiteContext(model=model, data=data, seed=0, preset="full", cache_dir=tmp_path_factory.mktemp("cache"))
    return data, model, ctx


def test_training_from_given_weights_starts_there(setup):
    _, model, _ = setup
    start = {k: v.clone() for k, v in model.module.state_dict().items()}
    tuned = train_model(RECIPE.__class__(**{**RECIPE.__dict__, "epochs": 0}), setup[0].train, init=start)
    assert all(torch.equal(tuned.state_dict()[k], v) for k, v in start.items())


def test_subset_is_seeded_and_members_come_from_it(setup):
    data, _, ctx = setup
    scoped, params, notes = _image_scope(ctx, SMALL)
    again, _, _ = _image_scope(ctx, SMALL)
    assert len(scoped.train) == 120 and torch.equal(scoped.train.x, again.train.x)
    assert (params.epochs, params.attack_rows) == (1, 60)
    assert "120 seeded training rows of 400" in notes[0] and "all 400 rows from scratch for 2 epoch(s)" in notes[0]
    rows = audit_rows(scoped, params, ctx.seed, "cpu")
    members = rows.membership.x[: rows.membership.n_per_side].flatten(1)
    trained = scoped.train.x.flatten(1)
    assert all(bool((trained == m).all(dim=1).any()) for m in members)
    assert len(rows.attack_rows) == 60 and rows.stop_when_fooled


def test_image_remedies_run_and_state_their_work(setup):
    _, _, ctx = setup
    out = RemediesSuite().run(ctx, SMALL)
    m = {x.name: x.value for x in out.measurements}
    assert {"adversarial_training.accuracy", "dp_sgd.accuracy", "distillation.accuracy"} <= set(m)
    assert any("120 seeded training rows of 400" in n for n in out.notes)
    assert not any("The full preset trains them like the original" in n for n in out.notes)
    # fine-tuning from the audited weights keeps accuracy near the original's after one epoch on 120 rows
    assert m["adversarial_training.accuracy"] >= m["original.accuracy"] - 0.15


def test_dp_sgd_on_a_cnn_ghost_clipping_trains_the_weights_of_per_row_gradient_clipping(setup):
    from audit.suites.remedies.dp_sgd import DpSettings, _train

    data, _, _ = setup
    settings = DpSettings(epsilon=4.0, delta=1e-5, max_grad_norm=0.5, batch_size=16, lr=5e-3)
    runs = {}
    for mode in ("ghost", "hooks"):  # hooks: opacus' per-row gradients, the reference
        spent: dict[str, float] = {}
        runs[mode] = (_train(RECIPE, data.train, settings, 0, spent, mode=mode).state_dict(), spent)
    assert runs["ghost"][1] == {**runs["hooks"][1], "ghost": 1.0}
    for a, b in zip(runs["ghost"][0].values(), runs["hooks"][0].values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_one_start_attacks_in_small_batches_draw_the_same_starts_as_the_engines_batches(setup, monkeypatch):
    """Small attack batches for images (one random start, drawn row after row): the same robust rows as the engine's
    one batch; attacks with more restarts keep the engine's batches."""
    import dataclasses

    from audit.suites.remedies import reaudit
    from audit.suites.remedies.variant import ORIGINAL, TrainedVariant
    from audit.suites.robustness.torch_pgd import PGDConfig

    data, model, _ = setup
    params = dataclasses.replace(SMALL, attack_rows=150, epsilon=0.2, attack_steps=5)
    rows = audit_rows(data, params, 0, "cpu")
    variant = TrainedVariant(ORIGINAL, model.module, "", float("nan"), 0, 0)
    cfg = PGDConfig("linf", params.epsilon, params.attack_steps, restarts=1)
    monkeypatch.setattr(reaudit, "ATTACK_VALUES", 40 * 784)  # batches of 40 of the 150 rows
    assert reaudit.attack_batch_rows(data.test.x, cfg) == 40
    assert reaudit.attack_batch_rows(data.test.x, dataclasses.replace(cfg, restarts=2)) == reaudit.ENGINE_BATCH
    small = reaudit.robust_correct(variant, rows, cfg, 0)
    monkeypatch.setattr(reaudit, "ATTACK_VALUES", 10**9)
    assert reaudit.attack_batch_rows(data.test.x, cfg) == reaudit.ENGINE_BATCH
    engine = reaudit.robust_correct(variant, rows, cfg, 0)
    assert 0 < engine.sum() < len(engine)
    assert (small == engine).all()
