"""Parts of the robustness suite checked against independent implementations (ART, scipy) and properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from audit.models.architectures import TabularMLP
from audit.suites.robustness import validity
from audit.suites.robustness.attacks import ArtSettings, run_art
from audit.suites.robustness.blackbox import random_search
from audit.suites.robustness.deepfool import deepfool
from audit.suites.robustness.natural import blur
from audit.suites.robustness.tabular import categorical_search, one_hot_valid
from audit.suites.robustness.threat import LogitView, tabular_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd
from audit.testing import synthetic_tabular, tabular_attack_view, view_accuracy


@pytest.fixture(scope="module")
def trained():
    return tabular_attack_view(n=1000, seed=1)


@pytest.mark.parametrize(("norm", "eps", "restarts"), [("linf", 0.3, 0), ("linf", 0.3, 1), ("l2", 0.5, 1)])
def test_torch_pgd_matches_art_within_one_point(trained, norm, eps, restarts):
    data, space, view = trained
    u, y = space.to_u(data.test.x), data.test.y
    ours = pgd(view, u, y, space, PGDConfig(norm, eps, 20, restarts), torch.Generator().manual_seed(0))
    settings_ = ArtSettings("pgd", norm, eps, steps=20, restarts=restarts, batch_size=512)
    art = run_art(view, space, u, y, 2, settings_)
    assert abs(view_accuracy(view, ours, y) - view_accuracy(view, art, y)) <= 0.01
    assert view_accuracy(view, ours, y) < view_accuracy(view, u, y)  # the attack did something


def test_deepfool_matches_art_deepfool(trained):
    from art.attacks.evasion import DeepFool
    from art.estimators.classification import PyTorchClassifier

    data, space, view = trained
    free = space.unconstrained()
    u = space.to_u(data.test.x[:100])
    ours, fooled = deepfool(view, u, free, max_iter=50, overshoot=0.02)
    # no clip values: ART's DeepFool scales its step by the clip range, which is unbounded here
    classifier = PyTorchClassifier(view, torch.nn.CrossEntropyLoss(), (7,), 2, device_type="cpu")
    theirs = DeepFool(classifier, max_iter=50, epsilon=0.02, verbose=False).generate(u.numpy())
    ours_size = (ours - u).flatten(1).norm(dim=1).numpy()
    their_size = np.linalg.norm(theirs - u.numpy(), axis=1)
    assert fooled.float().mean() > 0.95
    assert np.mean(ours_size) == pytest.approx(np.mean(their_size), rel=0.05)


def test_blur_matches_scipy_gaussian_filter():
    images = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    ours = blur(images, 1.0).numpy()
    theirs = np.stack([ndimage.gaussian_filter(img[0], 1.0, mode="mirror", truncate=3.0) for img in images.numpy()])
    np.testing.assert_allclose(ours[:, 0], theirs, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.05, 2.0), budget=st.integers(1, 2),
       freeze=st.sampled_from([("sex",), ("sex", "hours"), ("job",), ()]))
def test_constrained_attacks_keep_immutables_and_one_hot_groups(seed, eps, budget, freeze):
    data = synthetic_tabular(n=80, seed=seed % 7)
    torch.manual_seed(seed)
    view_space = tabular_space(data, freeze)
    view = LogitView(TabularMLP(7, 2, (8,)), view_space.scale, False).eval()
    u, y = view_space.to_u(data.test.x), data.test.y
    gen = torch.Generator().manual_seed(seed)
    adv = pgd(view, u, y, view_space, PGDConfig("linf", eps, 5, 1), gen)
    adv, _ = categorical_search(view, adv, y, view_space, budget)
    adv = random_search(view, adv, y, view_space, eps, 20, gen)
    immutable = [c for spec in data.features if spec.name in (*freeze, "sex") for c in spec.columns]
    assert torch.equal(adv[:, immutable], u[:, immutable])
    assert one_hot_valid(view_space.to_x(adv), view_space.categorical)
    x_adv = view_space.to_x(adv)
    assert torch.all(x_adv[:, 2:5].sum(1) == 1)
    lo, hi = view_space.to_x(view_space.u_lo), view_space.to_x(view_space.u_hi)
    assert torch.all(x_adv >= lo - 1e-5) and torch.all(x_adv <= hi + 1e-5)


def test_validity_checks_trigger_on_bad_numbers_and_stay_quiet_on_good_ones():
    assert not validity.non_increasing_in_eps({"pgd": [(0.1, 0.5), (0.2, 0.6)]}, 0.02).passed
    assert validity.non_increasing_in_eps({"pgd": [(0.1, 0.5), (0.2, 0.4)]}, 0.02).passed
    assert not validity.pgd_no_weaker_than_fgsm([("linf", 0.1, 0.6, 0.4)], 0.02).passed
    assert validity.pgd_no_weaker_than_fgsm([("linf", 0.1, 0.4, 0.45)], 0.02).passed
    assert not validity.attack_converged(0.6, 0.3, 0.02, "more steps").passed
    assert validity.attack_converged(0.6, 0.59, 0.02, "more steps").passed
    clean = np.array([True, True, True, False])
    assert not validity.blackbox_not_stronger(np.array([False, False, True, False]), clean, clean, 0.02).passed
    assert validity.blackbox_not_stronger(clean, clean, clean, 0.02).passed
    assert not validity.large_eps_reaches_chance(0.9, 2, 20.0).passed
    probs = torch.softmax(torch.randn(5, 3), 1)
    assert not validity.outputs_are_logits("logits", probs).passed
    assert validity.outputs_are_logits("logits", torch.log(probs)).passed
