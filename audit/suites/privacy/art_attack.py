"""ART's MembershipInferenceBlackBox: an attack model trained on the target's outputs and labels.

The attack model learns "member or not" from (predicted probabilities, true label) on a random half
of the members and non-members, and is scored on the other half, so its ROC is out-of-sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HeldOutScores:
    scores: np.ndarray  # attack's member probability on the held-out half
    labels: np.ndarray  # 1 member, 0 non-member
    held_out: np.ndarray  # mask over the input rows: which rows `scores` belong to
    n_train: int  # rows the attack model was trained on


def stratified_half(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of a random half of each label's rows."""
    mask = np.zeros(labels.size, bool)
    for value in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == value))
        mask[rows[: rows.size // 2]] = True
    return mask


def art_blackbox_scores(probs: np.ndarray, y: np.ndarray, labels: np.ndarray, n_classes: int,
                        attack_model: str, rng: np.random.Generator) -> HeldOutScores:
    """Fit ART's black-box attack on one half of (probs, y) and score the other half."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import BlackBoxClassifier

    def no_queries(x: np.ndarray) -> np.ndarray:  # ART only sees precomputed predictions
        raise RuntimeError("the attack must use the precomputed predictions")

    estimator = BlackBoxClassifier(no_queries, input_shape=(1,), nb_classes=n_classes)
    attack = MembershipInferenceBlackBox(estimator, input_type="prediction", attack_model_type=attack_model)
    if attack_model != "nn" and "random_state" in attack.attack_model.get_params():
        attack.attack_model.set_params(random_state=int(rng.integers(2**31 - 1)))
    train = stratified_half(labels, rng)
    member, non = train & (labels == 1), train & (labels == 0)
    attack.fit(y=y[member], test_y=y[non], pred=probs[member].astype(np.float32),
               test_pred=probs[non].astype(np.float32))
    inferred = attack.infer(None, y[~train], pred=probs[~train].astype(np.float32), probabilities=True)
    inferred = np.asarray(inferred, float)
    member_prob = inferred[:, -1] if inferred.ndim == 2 else inferred
    return HeldOutScores(scores=member_prob, labels=labels[~train], held_out=~train, n_train=int(train.sum()))
