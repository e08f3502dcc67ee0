"""Label-only membership inference: from predicted classes alone, checked against scikit-learn's AUC and ART."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from audit.models.types import ModelSource, ModelUnderAudit
from audit.suites.privacy import PrivacySuite
from audit.suites.privacy.label_only import noise_robustness_scores
from audit.suites.privacy.suite import PRESETS
from audit.testing import synthetic_tabular, tabular_model
from tests.suites.robustness_helpers import context

FAST = dataclasses.replace(PRESETS["quick"], shadow_models=0, bootstrap_resamples=100, label_only_queries=6)


class _Labels:
    """Predicted classes only, from any callable on float rows."""

    def __init__(self, decide):
        self.decide = decide

    def outputs(self, x: np.ndarray) -> np.ndarray:
        raise AssertionError("a labels-only model has no outputs")

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.decide(x), dtype=np.int64)


def _labels_only(data, decide) -> ModelUnderAudit:
    return ModelUnderAudit(
        name="labels-only", module=None, task=data.task, n_classes=data.n_classes, input_kind="tabular",
        input_shape=data.input_shape, outputs="labels", device="cpu", capabilities=frozenset({"predict", "queries"}),
        source=ModelSource("test", "labels-only", "0" * 64), backend=_Labels(decide))


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(600)


def _figures(out) -> dict:
    return {m.name: m for m in out.measurements}


def test_memorising_model_leaks_through_its_labels_and_the_auc_matches_scikit_learn(data):
    overfit = tabular_model(data, epochs=400, hidden=(128, 128))
    out = PrivacySuite().run(context(_labels_only(data, lambda x: overfit.predict(torch.as_tensor(x))), data), FAST)
    figures = _figures(out)
    evidence = out.evidence.columns
    expected = roc_auc_score(evidence["member"], evidence["score[label_only]"])
    assert figures["membership_auc[label_only]"].value == pytest.approx(expected, abs=1e-9)
    assert figures["membership_auc[label_only]"].ci[0] > 0.55  # it fits every training row, 0.7 held out
    assert figures["membership_auc[label_only]"].value >= figures["membership_auc[correctness]"].value - 0.02
    assert not any(name.startswith(("membership_auc[loss", "membership_auc[art", "attribute")) for name in figures)
    assert any("need class probabilities" in note for note in out.notes)


def test_a_model_that_ignores_its_input_leaks_nothing(data):
    out = PrivacySuite().run(context(_labels_only(data, lambda x: np.zeros(len(x))), data), FAST)
    low, high = _figures(out)["membership_auc[label_only]"].ci
    assert low <= 0.5 <= high


def test_without_perturbations_the_score_is_arts_gap_attack(data):
    from art.attacks.inference.membership_inference import LabelOnlyGapAttack
    from art.estimators.classification import BlackBoxClassifier

    knn = KNeighborsClassifier(n_neighbors=3).fit(data.train.x.numpy(), data.train.y.numpy())
    model = _labels_only(data, knn.predict)
    x, y = data.test.x[:80], data.test.y[:80]
    ours = noise_robustness_scores(model, x, y, torch.ones(1, x.shape[1]), None, 0.5, 0, torch.Generator())
    clf = BlackBoxClassifier(lambda a: np.eye(2)[knn.predict(a)], input_shape=(x.shape[1],), nb_classes=2)
    art = LabelOnlyGapAttack(clf).infer(x.numpy(), np.eye(2)[y.numpy()])
    assert np.array_equal(ours, art.astype(float))


def test_model_with_probabilities_adds_the_label_only_attack_to_the_others(data):
    out = PrivacySuite().run(context(tabular_model(data, epochs=20), data), FAST)
    figures = _figures(out)
    assert {"membership_auc[loss]", "membership_auc[label_only]"} <= set(figures)
    assert figures["membership_auc[label_only]"].details["input"] == "predicted classes only"
