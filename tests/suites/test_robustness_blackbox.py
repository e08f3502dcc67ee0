"""Black-box robustness: HopSkipJump against the exact L∞ distance and ART, and the suite's dispatch on capabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from audit.models.types import ModelSource, ModelUnderAudit, QueryOnlyModule
from audit.suites.robustness import RobustnessSuite
from audit.suites.robustness.decision_based import HopSkipJumpSettings, hop_skip_jump
from audit.suites.robustness.threat import input_space, tabular_space
from audit.testing import synthetic_tabular
from tests.suites.robustness_helpers import FAST, context

WHITE_BOX = ("fgsm", "pgd", "apgd", "deepfool")
SETTINGS = HopSkipJumpSettings(iterations=8, initial_evals=40, max_evals=80)


@pytest.fixture(scope="module")
def fitted():
    data = synthetic_tabular(500)
    labels = np.array(data.class_names)[data.train.y.numpy()]
    return data, LogisticRegression().fit(data.train.x.numpy(), labels)


def _decide(est):
    index = {c: i for i, c in enumerate(est.classes_)}
    return lambda u: torch.as_tensor([index[v] for v in est.predict(u.numpy())])


def _rows(data, est, n=40):
    x, y = data.test.x[:n], data.test.y[:n]
    correct = _decide(est)(x).numpy() == y.numpy()
    return x[correct], y[correct]


def test_hopskipjump_reaches_the_exact_linf_distance_of_a_linear_model(fitted):
    data, est = fitted
    x, y = _rows(data, est)
    space = input_space((x.shape[1],))  # unbounded, every column movable: the exact answer is |w·x+b| / ‖w‖₁
    found = hop_skip_jump(_decide(est), space, x, y, SETTINGS, torch.Generator().manual_seed(0))
    exact = np.abs(x.numpy() @ est.coef_[0] + est.intercept_[0]) / np.abs(est.coef_[0]).sum()
    ratio = found.distance.numpy() / exact
    assert (_decide(est)(found.u_adv).numpy() != y.numpy()).all()  # every returned point is adversarial
    assert ratio.min() >= 1 - 1e-4  # nothing closer than the true minimum (it would not be adversarial)
    assert np.median(ratio) < 1.05


def test_hopskipjump_keeps_immutable_columns_and_bounds_and_is_no_weaker_than_art(fitted):
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    data, est = fitted
    x, y = _rows(data, est, n=20)  # ART attacks row by row: keep it small
    space = tabular_space(data, ())
    found = hop_skip_jump(_decide(est), space, space.to_u(x), y, SETTINGS, torch.Generator().manual_seed(0))
    moved = (found.u_adv - space.to_u(x)).abs() > 0
    assert not moved[:, space.mask[0] == 0].any()  # sex and job one-hots never move
    assert (found.u_adv >= space.u_lo - 1e-6).all() and (found.u_adv <= space.u_hi + 1e-6).all()
    # ART on the same rows, same iterations and queries, with only the numeric columns free (all of them here move
    # in data units; ours in standard deviations, so compare in data units).
    lo, hi = float(data.test.x.min()), float(data.test.x.max())
    decide = _decide(est)
    clf = BlackBoxClassifier(lambda a: np.eye(2)[decide(torch.as_tensor(a, dtype=torch.float32)).numpy()],
                             input_shape=(x.shape[1],), nb_classes=2, clip_values=(lo, hi))
    attack = HopSkipJump(clf, norm=np.inf, max_iter=SETTINGS.iterations, max_eval=SETTINGS.max_evals,
                         init_eval=SETTINGS.initial_evals, init_size=SETTINGS.init_draws, verbose=False)
    x_art = attack.generate(x.numpy(), y=np.eye(2)[y.numpy()], mask=space.mask[0].numpy())
    art_dist = np.abs(x_art - x.numpy()).max(axis=1)
    ours = space.to_x(found.u_adv) - x
    our_dist = ours.abs().max(dim=1).values.numpy()
    art_flipped = decide(torch.as_tensor(x_art, dtype=torch.float32)).numpy() != y.numpy()
    for eps in (0.1, 0.3, 0.6):
        art_robust = np.mean(~(art_flipped & (art_dist <= eps)))
        assert np.mean(our_dist > eps) <= art_robust + 0.05


class _Estimator:
    """A fitted scikit-learn classifier as a query-only backend (as the adapters give it)."""

    def __init__(self, est):
        self.est = est

    def outputs(self, x: np.ndarray) -> np.ndarray:
        return self.est.predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _decide(self.est)(torch.as_tensor(x)).numpy()


def _query_only(data, est, scored: bool) -> ModelUnderAudit:
    backend = _Estimator(est)
    caps = {"predict", "queries"} | ({"predict_proba"} if scored else set())
    return ModelUnderAudit(
        name="query-only", module=QueryOnlyModule(backend) if scored else None, task=data.task,
        n_classes=data.n_classes, input_kind="tabular", input_shape=data.input_shape,
        outputs="probabilities" if scored else "labels", device="cpu", capabilities=frozenset(caps),
        source=ModelSource("test", "query-only", "0" * 64), backend=backend)


def _attacks(out) -> set[str]:
    return {str(m.details.get("attack")) for m in out.measurements if m.name.startswith("robust_accuracy[")}


def test_scored_model_without_gradients_gets_score_and_decision_based_attacks_only(fitted):
    data, est = fitted
    model = _query_only(data, est, scored=True)
    out = RobustnessSuite().run(context(model, data), FAST)
    assert _attacks(out) == {"random-search", "hopskipjump", "worst-case"}
    assert not any(name in m.name for m in out.measurements for name in WHITE_BOX)
    gate = next(m for m in out.measurements if m.name == "robust_accuracy[linf,eps=0.1]")
    assert "score-based" in gate.details["family"] and "decision-based" in gate.details["family"]
    assert gate.details["bound"] == "upper bound on robust accuracy"
    assert any("upper bound" in n and "HopSkipJump" in n for n in out.notes)
    assert all(c.passed for c in out.validity)


def test_labels_only_model_gets_hopskipjump(fitted):
    data, est = fitted
    out = RobustnessSuite().run(context(_query_only(data, est, scored=False), data), FAST)
    assert _attacks(out) == {"hopskipjump", "worst-case"}
    curve = sorted((m.details["eps"], m.value) for m in out.measurements if m.details.get("attack") == "hopskipjump")
    assert curve[-1][1] < curve[0][1]  # success grows with ε
    assert all(c.passed for c in out.validity)
    assert any("decision-based, HopSkipJump" in n for n in out.notes)
