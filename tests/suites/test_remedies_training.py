"""Each remedy's mechanics on tiny synthetic data: what it trains on, what it changes, checked independently."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference
from torch import nn

from audit.models.training import train_model
from audit.models.types import Recipe
from audit.suites.remedies.adversarial import adversarial_loss, train_adversarial, training_points
from audit.suites.remedies.distillation import distillation_loss, student_recipe, train_student
from audit.suites.remedies.dp_sgd import DpSettings, train_dp_sgd
from audit.suites.remedies.fairness_constrained import group_codes, soft_gap, train_constrained
from audit.suites.remedies.params import RemediesParams
from audit.suites.remedies.reaudit import IMMUTABLE, audit_rows, robust_correct
from audit.suites.remedies.variant import ORIGINAL, RemedySkipped, TrainedVariant, count_parameters
from audit.suites.robustness.threat import LogitView, build_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd_batch
from audit.testing import synthetic_tabular, tabular_model

pytest.importorskip("opacus")


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=800, seed=3)


@pytest.fixture(scope="module")
def model(data):
    return tabular_model(data, seed=3, epochs=60, hidden=(16,))


def _recipe(model) -> Recipe:
    return dataclasses.replace(model.recipe, batch_size=64, epochs=15, lr=0.01)


def _variant(name: str, module: nn.Module) -> TrainedVariant:
    return TrainedVariant(name, module, "", float("nan"), count_parameters(module, True), count_parameters(module))


def test_adversarial_batches_stay_in_the_threat_space_and_raise_the_loss(data, model):
    space = build_space(data, IMMUTABLE)
    seen: list[torch.Tensor] = []

    class Spy(nn.Module):  # records the inputs the training loss is computed on
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.inner(x)

    x, y = data.train.x[:128], data.train.y[:128]
    spy = Spy(model.module)
    adv_loss = adversarial_loss(space, PGDConfig("linf", 0.3, 5, restarts=1), torch.Generator().manual_seed(0))(
        spy, x, y, torch.arange(128))
    x_adv = seen[-1]
    moved = (x_adv - x).abs()
    immutable = list(space.immutable_columns) + [2, 3, 4]  # sex one-hot; job one-hot moves only by category search
    assert torch.all(moved[:, immutable] == 0)
    assert torch.all(moved[:, :2] <= 0.3 * space.scale[0, :2] + 1e-5)
    assert moved[:, :2].max() > 0.1 * space.scale[0, :2].min()
    clean = nn.functional.cross_entropy(model.module(x), y)
    assert adv_loss.item() > clean.item()


def test_adversarial_training_points_are_the_engines_pgd_points(data, model):
    """One restart of the engine's steps with the weights out of autograd: the points and the generator's draws
    are pgd_batch's, and the weights still train afterwards."""
    space = build_space(data, IMMUTABLE)
    view = LogitView(model.module, space.scale, outputs_probabilities=False).eval()
    u0, y = space.to_u(data.train.x[:200]), data.train.y[:200]
    cfg = PGDConfig("linf", 0.3, 4, restarts=1)
    ours_gen, theirs_gen = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(2):  # consecutive batches draw the same random starts
        ours = training_points(view, u0, y, space, cfg, ours_gen)
        theirs = pgd_batch(view, u0, y, space, cfg, theirs_gen)
        assert torch.equal(ours, theirs)
    assert not torch.equal(ours, u0)
    assert all(p.requires_grad for p in model.module.parameters())


def test_adversarial_training_raises_robust_accuracy_on_the_same_rows(data, model):
    recipe = _recipe(model)
    params = dataclasses.replace(RemediesParams(), epsilon=0.5, attack_steps=10, attack_rows=320)
    rows = audit_rows(data, params, seed=0, device="cpu")
    trained = train_adversarial(recipe, data, rows.space, 0.5, 5, seed=0)
    plain = _variant(ORIGINAL, train_model(recipe, data.train))
    cfg = PGDConfig("linf", 0.5, 10, restarts=1)
    assert robust_correct(trained, rows, cfg, 0).mean() > robust_correct(plain, rows, cfg, 0).mean()
    assert trained.details["epsilon"] == 0.5 and "Madry" in trained.how


def test_dp_sgd_meets_its_target_and_is_deterministic(data, model):
    from opacus.accountants import PRVAccountant, RDPAccountant

    settings = DpSettings(epsilon=4.0, delta=1e-5, max_grad_norm=1.0, batch_size=16, lr=0.01)
    recipe = dataclasses.replace(_recipe(model), epochs=3)
    first = train_dp_sgd(recipe, data.train, settings, seed=0)
    second = train_dp_sgd(recipe, data.train, settings, seed=0)
    for a, b in zip(first.module.state_dict().values(), second.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    d = first.details
    assert 3.8 <= d["accountant_epsilon"] <= 4.0 + 1e-6
    # Re-derive ε from the recorded noise, sampling rate and steps with fresh accountants: RDP agrees, and the
    # tighter PRV accountant cannot exceed it.
    for accountant in (RDPAccountant(), PRVAccountant()):
        for _ in range(d["optimizer_steps"]):
            accountant.step(noise_multiplier=d["noise_multiplier"], sample_rate=d["sample_rate"])
        eps = accountant.get_epsilon(delta=1e-5)
        assert eps == pytest.approx(d["accountant_epsilon"], rel=1e-6) if isinstance(accountant, RDPAccountant) \
            else eps <= d["accountant_epsilon"] + 1e-6
    assert "GradSample" not in type(first.module).__name__ and not first.module._forward_hooks


def test_a_lower_bound_above_the_accountant_is_reported_as_an_invalid_evaluation():
    from audit.suites.remedies.findings import dp_validity

    variant = TrainedVariant("dp_sgd", nn.Linear(2, 2), "", 1.0, 6, 6, details={"accountant_epsilon": 2.0})

    class Found:
        epsilon_lb = 3.1

    ev = type("Ev", (), {"variant": variant})()
    checks = {c.name: c for c in dp_validity(Found(), ev, dataclasses.replace(RemediesParams(), dp_epsilon=2.0))}
    bad = checks["dp_sgd_lower_bound_below_accountant"]
    assert not bad.passed and "impossible" in bad.detail
    Found.epsilon_lb = 1.5
    assert {c.name: c for c in dp_validity(Found(), ev, RemediesParams())}["dp_sgd_lower_bound_below_accountant"].passed


def test_student_is_half_the_width_and_learns_from_softened_targets(data, model):
    recipe = _recipe(model)
    assert student_recipe(recipe).arch_kwargs["hidden"] == [8]
    zoo_like = dataclasses.replace(recipe, arch_kwargs={**recipe.arch_kwargs, "hidden": [64, 32]})
    assert student_recipe(zoo_like).arch_kwargs["hidden"] == [32, 16]
    cnn = Recipe(name="c", dataset="mnist", architecture="mnist-cnn", arch_kwargs={})
    assert student_recipe(cnn).arch_kwargs == {"channels": [8, 16], "hidden": 32}
    with pytest.raises(RemedySkipped):
        student_recipe(dataclasses.replace(recipe, architecture="resnet"))
    student = train_student(recipe, data.train, model.module, "logits", 4.0, 0.9)
    assert student.parameters < count_parameters(model.module)
    with torch.no_grad():
        agree = (student.module(data.test.x).argmax(1) == model.module(data.test.x).argmax(1)).float().mean()
    assert agree > 0.85


def test_distillation_loss_is_hintons_formula():
    torch.manual_seed(0)
    teacher, student, y = torch.randn(6, 3), torch.randn(6, 3, requires_grad=True), torch.tensor([0, 1, 2, 0, 1, 2])
    loss = distillation_loss(teacher, temperature=3.0, alpha=0.7)(lambda x: student, None, y, torch.arange(6))
    p_t = np.exp(teacher.numpy() / 3) / np.exp(teacher.numpy() / 3).sum(1, keepdims=True)
    log_p_s = student.detach().numpy() / 3 - np.log(np.exp(student.detach().numpy() / 3).sum(1, keepdims=True))
    kl = (p_t * (np.log(p_t) - log_p_s)).sum(1).mean()
    ce = nn.functional.cross_entropy(student.detach(), y).item()
    assert loss.item() == pytest.approx(0.7 * 9 * kl + 0.3 * ce, rel=1e-5)


def test_soft_gaps_match_their_definitions():
    p = torch.tensor([0.9, 0.8, 0.3, 0.1, 0.6, 0.2])
    codes = torch.tensor([0, 0, 1, 1, 2, 2])
    y_pos = torch.tensor([True, False, True, False, True, False])
    means = [p[codes == g].mean().item() for g in range(3)]
    assert soft_gap(p, codes, 3, y_pos, "demographic_parity").item() == pytest.approx(max(means) - min(means))
    tpr = [p[(codes == g) & y_pos].mean().item() for g in range(3)]
    fpr = [p[(codes == g) & ~y_pos].mean().item() for g in range(3)]
    expected = max(max(tpr) - min(tpr), max(fpr) - min(fpr))
    assert soft_gap(p, codes, 3, y_pos, "equalized_odds").item() == pytest.approx(expected)
    assert soft_gap(p[:2], codes[:2], 3, y_pos[:2], "demographic_parity").item() == 0.0  # one group: no gap


def test_fairness_constraint_narrows_the_gap_fairlearn_measures(data, model):
    recipe = _recipe(model)
    plain = train_model(recipe, data.train)
    fair = train_constrained(recipe, data.train, "sex", "demographic_parity", 3.0, positive=1)
    codes, names = group_codes(data.train.sensitive, "sex")
    assert names == ("Female", "Male") and int(codes.max()) == 1
    groups = data.test.sensitive["sex"]
    with torch.no_grad():
        gaps = [demographic_parity_difference(data.test.y.numpy(), m(data.test.x).argmax(1).numpy(),
                                              sensitive_features=groups) for m in (plain, fair.module)]
    assert gaps[1] < gaps[0] - 0.05
    assert fair.details["method"] == "differentiable penalty"


@pytest.mark.parametrize("batch_size", [16, 1])  # 1 of 640 rows: about a third of the Poisson batches are empty
def test_dp_sgd_ghost_clipping_trains_the_weights_of_per_row_gradient_clipping(data, model, batch_size):
    from audit.suites.remedies.dp_sgd import _train, clipping_mode

    settings = DpSettings(epsilon=4.0, delta=1e-5, max_grad_norm=0.5, batch_size=batch_size, lr=0.01)
    recipe = dataclasses.replace(_recipe(model), epochs=2)
    assert clipping_mode(model.module) == "ghost"
    spent_ghost: dict[str, float] = {}
    spent_hooks: dict[str, float] = {}
    ghost = _train(recipe, data.train, settings, 0, spent_ghost, mode="ghost")
    hooks = _train(recipe, data.train, settings, 0, spent_hooks, mode="hooks")  # opacus' reference mode
    assert spent_ghost == {**spent_hooks, "ghost": 1.0}
    for a, b in zip(ghost.state_dict().values(), hooks.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(ghost.state_dict()["net.0.weight"], model.module.state_dict()["net.0.weight"])
    assert clipping_mode(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))) == "ghost"
    assert clipping_mode(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())) == "hooks"  # no layer ghost clipping helps


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_dp_sgd_optimizer_gives_the_weights_of_torch_optim(data, model, optimizer, monkeypatch):
    """opacus wraps torch.optim's update functions (no Optimizer object, so no torch._dynamo import): the weights
    equal those of opacus wrapping torch.optim's optimizer at its defaults, bit for bit."""
    from audit.suites.remedies import dp_sgd

    settings = DpSettings(epsilon=4.0, delta=1e-5, max_grad_norm=0.5, batch_size=16, lr=0.01)
    recipe = dataclasses.replace(_recipe(model), epochs=2, optimizer=optimizer, weight_decay=0.3)
    ours = dp_sgd._train(recipe, data.train, settings, 0, {})
    factory = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[optimizer]
    monkeypatch.setattr(dp_sgd, "_optimizer", lambda recipe, module, lr: factory(module.parameters(), lr=lr))
    theirs = dp_sgd._train(recipe, data.train, settings, 0, {})
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key
    assert not torch.equal(ours.state_dict()["net.0.weight"], model.module.state_dict()["net.0.weight"])


@pytest.mark.parametrize(("epsilon", "delta", "rate", "steps"), [
    (8.0, 1e-5, 512 / 32561, 512), (8.0, 1e-5, 64 / 1000, 64), (1.0, 1e-5, 0.01, 1000), (0.5, 1e-6, 0.2, 30),
    (3.0, 1e-5, 1.0, 10), (2.0, 1e-5, 1 / 640, 1280)])
def test_noise_search_returns_opacus_noise_multiplier(epsilon, delta, rate, steps):
    from opacus.accountants.utils import get_noise_multiplier

    from audit.suites.remedies.dp_sgd import INTEGER_ORDERS, noise_for_target

    settings = DpSettings(epsilon=epsilon, delta=delta, max_grad_norm=1.0, batch_size=1, lr=0.01)
    theirs = get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=rate, steps=steps,
                                  accountant="rdp", alphas=INTEGER_ORDERS)
    assert noise_for_target(settings, rate, steps) == pytest.approx(theirs, rel=1e-12)


def test_stronger_attack_runs_only_on_rows_the_audited_attack_did_not_fool(data, model):
    params = dataclasses.replace(RemediesParams(), epsilon=0.5, attack_steps=5, attack_rows=200)
    rows = audit_rows(data, params, seed=0, device="cpu")
    variant = _variant(ORIGINAL, model.module)
    audited = robust_correct(variant, rows, PGDConfig("linf", 0.5, 5, restarts=1), 0)
    assert 0 < audited.sum() < len(audited)
    stronger = PGDConfig("linf", 0.5, 10, restarts=2)
    union = robust_correct(variant, rows, stronger, 1, only=audited)
    assert not union[~audited].any()  # fooled once: broken, not attacked again
    alone = robust_correct(variant, dataclasses.replace(rows, attack_rows=rows.attack_rows[audited]), stronger, 1)
    assert np.array_equal(union[audited], alone)
    assert union.mean() <= audited.mean()  # never weaker than the audited attack
