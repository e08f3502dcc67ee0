"""APGD on the one attack engine: no weaker than PGD at the same budget, honours the feature mask, agrees with
ART's AutoProjectedGradientDescent on an unmasked image-like case; early stopping and warm starts never weaken
a figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audit.suites.robustness.apgd import APGDConfig, apgd, apgd_with_stats, checkpoints, dlr_loss
from audit.suites.robustness.attacks import ArtSettings, run_art
from audit.suites.robustness.blackbox import square_attack
from audit.suites.robustness.threat import image_space
from audit.suites.robustness.torch_pgd import PGDConfig, pgd, pgd_with_stats
from audit.testing import tabular_attack_view, view_accuracy
from tests.suites.square_reference import square_attack_linf


@pytest.fixture(scope="module")
def tabular():
    data, space, view = tabular_attack_view(n=800, seed=2)
    return view, space, space.to_u(data.test.x), data.test.y


def _image_classifier(side: int, n_train: int, n_test: int):
    """A 4-class MLP on side×side 'images' in [0, 1], trained to fit a smooth random labelling."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n_train + n_test, 1, side, side, generator=gen)
    y = (x.flatten(1) @ torch.randn(side * side, 4, generator=gen)).argmax(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 32), nn.ReLU(), nn.Linear(32, 4))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[:n_train]), y[:n_train]).backward()
        opt.step()
    return net.eval(), image_space((1, side, side)), x[n_train:], y[n_train:]


@pytest.fixture(scope="module")
def images():
    return _image_classifier(6, 400, 200)


def test_checkpoints_follow_the_paper() -> None:
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]  # gaps 22, 19, 16, 13, 10, 7, 6, 6
    assert checkpoints(25)[0] == 6


def test_dlr_is_minus_the_margin_over_the_top_spread() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, 5.0]])
    expected = torch.tensor([-(3.0 - 1.0) / (3.0 - 0.0), -(0.0 - 5.0) / (5.0 - 1.0)])
    torch.testing.assert_close(dlr_loss(logits, torch.tensor([0, 0])), expected)


@pytest.mark.parametrize("norm,eps", [("linf", 0.3), ("linf", 0.6), ("l2", 0.8)])
def test_apgd_no_weaker_than_pgd_and_keeps_the_mask(tabular, norm, eps) -> None:
    view, space, u, y = tabular
    gen = torch.Generator
    ours = apgd(view, u, y, space, APGDConfig(norm, eps, 20), gen().manual_seed(0))
    base = pgd(view, u, y, space, PGDConfig(norm, eps, 20, 1), gen().manual_seed(0))
    assert view_accuracy(view, ours, y) <= view_accuracy(view, base, y) + 0.01
    assert view_accuracy(view, ours, y) < view_accuracy(view, u, y)
    frozen = space.mask[0] == 0
    assert torch.equal(ours[:, frozen], u[:, frozen])  # ART's random start moves these; ours never does
    torch.testing.assert_close(space.project(u, ours, eps, norm), ours, rtol=0, atol=1e-5)


def test_apgd_matches_art_on_an_unmasked_image_case(images) -> None:
    net, space, x, y = images
    for loss in ("ce", "dlr"):
        ours = apgd(net, x, y, space, APGDConfig("linf", 0.05, 25, loss), torch.Generator().manual_seed(0))
        art = run_art(net, space, x, y, 4, ArtSettings(f"apgd-{loss}", "linf", 0.05, steps=25, batch_size=256))
        clean, a_ours, a_art = view_accuracy(net, x, y), view_accuracy(net, ours, y), view_accuracy(net, art, y)
        assert a_ours < clean - 0.1  # the attack bites
        assert abs(a_ours - a_art) <= 0.02, (loss, a_ours, a_art)


@pytest.mark.parametrize("make", ["pgd", "apgd"])
def test_stopping_early_and_warm_starts_never_weaken_the_attack(tabular, make) -> None:
    view, space, u, y = tabular

    def run(eps: float, **kw):  # noqa: ANN003, ANN202
        gen = torch.Generator().manual_seed(0)
        if make == "pgd":
            return pgd_with_stats(view, u, y, space, PGDConfig("linf", eps, 15, 2), gen, **kw)
        return apgd_with_stats(view, u, y, space, APGDConfig("linf", eps, 15), gen, **kw)

    full, full_stats = run(0.4)
    early, early_stats = run(0.4, stop_when_fooled=True)
    assert view_accuracy(view, early, y) <= view_accuracy(view, full, y)
    assert early_stats.row_steps < full_stats.row_steps
    small, _ = run(0.2, stop_when_fooled=True)
    warm, warm_stats = run(0.4, stop_when_fooled=True, start=small)
    was_fooled = (view(small).argmax(1) != y).detach().numpy()
    assert warm_stats.rows_attacked == int((~was_fooled).sum())
    assert np.all((view(warm).argmax(1) != y).detach().numpy()[was_fooled])
    assert view_accuracy(view, warm, y) <= view_accuracy(view, early, y)
    torch.testing.assert_close(space.project(u, warm, 0.4, "linf"), warm, rtol=0, atol=1e-6)


def test_the_validity_check_flags_an_apgd_weaker_than_pgd() -> None:
    from audit.suites.robustness.validity import apgd_no_weaker_than_pgd

    assert apgd_no_weaker_than_pgd([("linf", 0.5, 0.70, 0.71), ("linf", 1.0, 0.53, 0.52)], 0.02).passed
    failed = apgd_no_weaker_than_pgd([("linf", 1.0, 0.74, 0.52)], 0.02)  # ART's APGD-CE on Adult before
    assert not failed.passed and "0.740 > PGD 0.520" in failed.detail


def test_square_attack_agrees_with_art_square_on_images(images) -> None:
    """The query-only check's attack on images: our Square attack vs ART's SquareAttack at the same budget.

    ART's windows are shared by the whole batch, so one run's accuracy moves by a point or two with the seed:
    the comparison is on the mean over seeds. `variant="art"` (ART's three departures from the paper) must
    reproduce ART's figure; the paper's variant must be no weaker than ART's."""
    net, space, x, y = images
    seeds = range(6)
    clean = view_accuracy(net, x, y)

    def ours(variant: str) -> float:
        return float(np.mean([view_accuracy(net, square_attack(net, x, y, space, 0.05, 200,
                                                                torch.Generator().manual_seed(s), variant=variant), y)
                              for s in seeds]))

    art = float(np.mean([view_accuracy(net, run_art(net, space, x, y, 4, ArtSettings(
        "square", "linf", 0.05, steps=200, batch_size=256, seed=s)), y) for s in seeds]))
    paper, art_like = ours("paper"), ours("art")
    assert paper < clean - 0.1  # the attack bites
    assert abs(art_like - art) <= 0.015, (art_like, art)  # the same algorithm as ART's, within noise
    assert paper <= art + 0.01, (paper, art)  # no weaker than ART (within a point)
    one = square_attack(net, x, y, space, 0.05, 200, torch.Generator().manual_seed(0))
    torch.testing.assert_close(space.project(x, one, 0.05, "linf"), one, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def images10():
    """10×10 images, where the paper's Square attack and ART's land about five points apart."""
    return _image_classifier(10, 500, 200)


def test_square_attack_agrees_with_the_authors_reference_code(images10) -> None:
    """The audited (paper) variant against the authors' own `square_attack_linf`, ported in
    tests/suites/square_reference.py: same images, ε, query budget and p_init, mean over seeds (each draws its
    windows from its own random stream). ART's departures, on the same seeds, land points away: the comparison
    tells the two algorithms apart."""
    net, space, x, y = images10
    seeds = range(6)

    def predict(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(points, dtype=torch.float32)).double().numpy()

    def ours(variant: str) -> float:
        return float(np.mean([view_accuracy(net, square_attack(net, x, y, space, 0.04, 200,
                                                                torch.Generator().manual_seed(s), variant=variant), y)
                              for s in seeds]))

    reference = float(np.mean([view_accuracy(net, torch.as_tensor(square_attack_linf(
        predict, x.double().numpy(), y.numpy(), 0.04, 200, seed=s), dtype=torch.float32), y) for s in seeds]))
    assert reference < view_accuracy(net, x, y) - 0.3  # the attack bites
    assert abs(ours("paper") - reference) <= 0.01, (ours("paper"), reference)
    assert ours("art") > reference + 0.03


def test_square_attack_never_spends_a_query_that_changes_nothing() -> None:
    """The paper's reference code re-draws a window's signs until the proposal differs from the current point;
    ART's SquareAttack does not, so on one-channel images about half its late (one-pixel) queries are wasted."""
    gen = torch.Generator().manual_seed(1)
    x = 0.2 + 0.6 * torch.rand(64, 1, 8, 8, generator=gen)  # no pixel within ε of the bounds: nothing clips
    y = torch.zeros(64, dtype=torch.long)
    queried: list[torch.Tensor] = []

    class MovedIsWorse(nn.Module):
        """The margin falls with the number of moved pixels: the stripe start (every pixel moved) is kept, and
        no proposal (a window of a vertex set to another vertex) lowers it further, so it stays the current
        point of every row, which is never fooled."""

        def forward(self, u: torch.Tensor) -> torch.Tensor:
            queried.append(u.clone())
            moved = ((u - x).abs() > 0.05).flatten(1).sum(1).float()
            return torch.stack([100 - moved, torch.zeros(len(u))], dim=1)

    space = image_space((1, 8, 8))
    for variant in ("paper", "art"):
        queried.clear()
        out = square_attack(MovedIsWorse(), x, y, space, 0.1, 60, torch.Generator().manual_seed(0), variant=variant)
        stripes = queried[0]
        torch.testing.assert_close(out, stripes)
        proposals = queried[2:] if variant == "art" else queried[1:]  # ART's variant also scores the clean input
        assert len(proposals) == 60
        unchanged = sum(int(((p - stripes).abs() < 1e-7).flatten(1).all(1).sum()) for p in proposals)
        if variant == "paper":
            assert unchanged == 0
        else:
            assert unchanged > 0.1 * 60 * 64, unchanged
