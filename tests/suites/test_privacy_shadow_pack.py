"""A shadow task's figures, in the JSON form a part is kept and read back as, equal the figures computed directly
(exact float64 φ; non-finite φ read back as NaN, as when they travelled as JSON numbers)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from audit.checkpoints import json_form
from audit.models.recipes import BASE_RECIPES
from audit.suites.privacy import shadow
from audit.suites.privacy.threshold import logit_confidence


def _pool() -> shadow.ShadowPool:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=gen), torch.randint(0, 2, (40,), generator=gen)
    recipe = dataclasses.replace(BASE_RECIPES["adult-mlp"], arch_kwargs={"in_features": 6, "hidden": [8]},
                                 epochs=2, batch_size=8)
    return shadow.ShadowPool(recipe, x, y, recipe.epochs)


def _direct(pool: shadow.ShadowPool, keep: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    stack = shadow.train_vectorised(pool.recipe, pool.x, pool.y, keep, pool.epochs, seed)
    outputs = shadow.predict_stack(stack, pool.x)
    return logit_confidence(outputs, pool.y, "logits"), (outputs.argmax(-1) == pool.y).numpy()


def _read_back(part: dict) -> tuple[np.ndarray, np.ndarray]:
    kept = json_form(part)
    return (shadow._unpack(kept["phi"], "<f8", kept["shape"]), shadow._unpack(kept["correct"], "?", kept["shape"]))


def test_task_figures_read_back_exactly() -> None:
    pool = _pool()
    keep = shadow.paired_assignment(4, 40, np.random.default_rng(1))
    phi, correct = _read_back(shadow.train_shadow_task(pool, keep, 3))
    direct_phi, direct_correct = _direct(pool, keep, 3)
    assert phi.dtype == np.float64 and phi.shape == (4, 40)
    np.testing.assert_array_equal(phi, direct_phi)
    np.testing.assert_array_equal(correct, direct_correct)


def test_non_finite_phi_reads_back_as_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = _pool()
    keep = shadow.paired_assignment(2, 40, np.random.default_rng(1))
    real = logit_confidence

    def with_infinities(outputs: torch.Tensor, y: torch.Tensor, kind: str) -> np.ndarray:
        phi = real(outputs, y, kind)
        phi[0, :3] = [np.inf, -np.inf, np.nan]
        return phi

    monkeypatch.setattr(shadow, "logit_confidence", with_infinities)
    phi, _ = _read_back(shadow.train_shadow_task(pool, keep, 3))
    assert np.isnan(phi[0, :3]).all() and np.isfinite(phi[0, 3:]).all()
