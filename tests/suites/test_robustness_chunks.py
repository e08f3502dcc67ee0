"""The model's passes in chunks of rows (`chunks.RowChunks`): the same draws, points and figures as whole passes;
budgets per row hold through restarts and warm starts."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch
from robustness_helpers import FAST, context
from torch import nn

from audit.data.types import Dataset, Split
from audit.suites.robustness import RobustnessSuite, chunks
from audit.suites.robustness.apgd import APGDConfig, apgd_with_stats
from audit.suites.robustness.blackbox import square_attack
from audit.suites.robustness.chunks import RowChunks, chunk_rows, row_chunks
from audit.suites.robustness.deepfool import deepfool
from audit.suites.robustness.threat import image_space
from audit.suites.robustness.torch_pgd import PGDConfig, fgsm_sweep, pgd_with_stats
from audit.testing import train_classifier, wrap_module
from audit.types import to_json_dict


@pytest.fixture(scope="module")
def images():
    """A small CNN (convolution, max-pool, two linear layers) fitted to a random linear labelling of 8×8 images;
    90 held-out rows with their true labels."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(390, 1, 8, 8, generator=gen)
    y = (x.flatten(1) @ torch.randn(64, 4, generator=gen)).argmax(1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 4))
    return train_classifier(net, x[:300], y[:300], epochs=150, lr=0.02), image_space((1, 8, 8)), x[300:], y[300:]


def test_row_chunks_are_even_cover_every_row_once_and_keep_to_the_limit() -> None:
    for n in (1, 3, 7, 166, 167, 168, 500, 1500):
        for limit in (1, 4, 167, 512):
            pieces = row_chunks(n, limit)
            sizes = [p.stop - p.start for p in pieces]
            assert [i for p in pieces for i in range(p.start, p.stop)] == list(range(n))
            assert max(sizes) <= limit and max(sizes) - min(sizes) <= 1  # no small remainder
    assert row_chunks(0, 10) == []
    images = torch.zeros(2, 1, 28, 28)
    assert chunk_rows(images) == 167 and chunk_rows(torch.zeros(2, 100)) == 1310
    assert chunk_rows(images, "cuda:0") is None  # an accelerator takes whole calls
    assert [p.stop - p.start for p in row_chunks(169, 167)] == [84, 85]


@pytest.mark.parametrize(("norm", "restarts", "make"),
                         [("linf", 1, "pgd"), ("linf", 2, "pgd"), ("l2", 1, "pgd"), ("l2", 0, "pgd"),
                          ("linf", 1, "apgd")])
def test_attacks_through_passes_in_chunks_give_the_same_points_and_work(images, norm, restarts, make) -> None:
    """Every pass of 13 rows or fewer against one pass per call: identical points and per-row steps for one or more
    restarts, either norm, per-row budgets, early stopping and warm starts (the draws are made per batch)."""
    net, space, x, y = images
    u, labels = x.repeat_interleave(2, dim=0), y.repeat_interleave(2)
    radius = torch.tensor([0.02, 0.1] if norm == "linf" else [0.1, 0.4]).repeat(x.shape[0])

    def run(model: nn.Module, start: torch.Tensor | None = None):  # noqa: ANN202
        gen = torch.Generator().manual_seed(0)
        if make == "pgd":
            return pgd_with_stats(model, u, labels, space, PGDConfig(norm, 1.0, 6, restarts), gen, 512, radius,
                                  stop_when_fooled=True, start=start)
        return apgd_with_stats(model, u, labels, space, APGDConfig(norm, 1.0, 6), gen, 512, radius,
                               stop_when_fooled=True, start=start)

    chunked = RowChunks(net, 13).eval()
    whole, _ = run(net)
    fooled = (net(whole).argmax(1) != labels).numpy()
    assert 0 < fooled.sum() < len(fooled)  # both kinds of rows are exercised
    for start in (None, run(net, whole)[0] if restarts else None):
        a, sa = run(net, start)
        b, sb = run(chunked, start)
        assert torch.equal(a, b)
        assert torch.equal(sa.steps_per_row, sb.steps_per_row)
        assert (sa.rows_attacked, sa.row_steps, sa.restarts_run) == (sb.rows_attacked, sb.row_steps, sb.restarts_run)


def test_fgsm_square_and_deepfool_through_passes_in_chunks_are_unchanged(images) -> None:
    net, space, x, y = images
    chunked = RowChunks(net, 13).eval()
    assert torch.equal(fgsm_sweep(net, x, y, space, "linf", (0.02, 0.1)), fgsm_sweep(chunked, x, y, space, "linf",
                                                                                     (0.02, 0.1)))
    whole = square_attack(net, x, y, space, 0.05, 60, torch.Generator().manual_seed(0))
    assert torch.equal(whole, square_attack(chunked, x, y, space, 0.05, 60, torch.Generator().manual_seed(0)))
    assert 0 < int((net(whole).argmax(1) != y).sum()) < len(y)
    for a, b in zip(deepfool(net, x, space, 20), deepfool(chunked, x, space, 20), strict=True):
        assert torch.equal(a, b)


def test_per_row_budgets_hold_through_a_second_restart_and_warm_starts(images) -> None:
    """A per-row budget (its step too) applies to the right rows when a restart or a warm start attacks only some
    of them: with every row's budget equal, the points are the scalar attack's."""
    net, space, x, y = images
    r = 2.0**-5  # 1.0·r, (2.5/5)·r and 2.5·r/5 are exact: the same ε and step as the scalar attack's
    radius = torch.full((x.shape[0],), r)
    for restarts in (1, 2):
        scalar, s1 = pgd_with_stats(net, x, y, space, PGDConfig("linf", r, 5, restarts),
                                    torch.Generator().manual_seed(0), stop_when_fooled=True)
        per_row, s2 = pgd_with_stats(net, x, y, space, PGDConfig("linf", 1.0, 5, restarts),
                                     torch.Generator().manual_seed(0), radius=radius, stop_when_fooled=True)
        assert torch.equal(scalar, per_row) and torch.equal(s1.steps_per_row, s2.steps_per_row)
        half, _ = pgd_with_stats(net, x, y, space, PGDConfig("linf", r / 2, 5, 1), torch.Generator().manual_seed(1))
        warm, _ = pgd_with_stats(net, x, y, space, PGDConfig("linf", 1.0, 5, restarts),
                                 torch.Generator().manual_seed(0), radius=radius, stop_when_fooled=True, start=half)
        cold, _ = pgd_with_stats(net, x, y, space, PGDConfig("linf", r, 5, restarts),
                                 torch.Generator().manual_seed(0), stop_when_fooled=True, start=half)
        assert torch.equal(warm, cold)
        assert 0 < int((net(scalar).argmax(1) != y).sum()) < len(y) and s1.restarts_run == restarts


def _image_suite_json(monkeypatch, values: int) -> str:
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 14 * 14, 10))
    x = torch.rand(120, 1, 28, 28, generator=gen)
    with torch.no_grad():
        y = net(x).argmax(1)
    data = Dataset(name="random-images", task="multiclass", class_names=tuple(str(i) for i in range(10)),
                   input_kind="image", feature_names=(), features=(), sensitive_attributes=(), train=None,
                   test=Split(x=x, y=y, sensitive=pd.DataFrame(index=range(120))), source="test", sha256="t")
    monkeypatch.setattr(chunks, "CHUNK_VALUES", values)
    params = dataclasses.replace(FAST, run_apgd=True, apgd_steps=5, blackbox_queries=40, run_l2=True)
    out = RobustnessSuite().run(context(wrap_module(net.eval(), data, name="cnn"), data), params)
    return json.dumps(to_json_dict(dataclasses.replace(out, evidence=None)), sort_keys=True)


def test_an_image_audit_in_chunks_of_rows_reports_the_same_figures(monkeypatch) -> None:
    """The whole suite on images, every pass 40 rows or fewer, against one pass per call: the same scorecard.
    Pieces are never under half the limit (here 20 rows): with MKL on an AVX-512 CPU a 784-wide product of fewer than
    16 rows takes another kernel and rounds differently, so 10-row pieces changed DeepFool's figure there."""
    small = _image_suite_json(monkeypatch, 40 * 784)
    assert _image_suite_json(monkeypatch, 10**9) == small
