"""Out-of-fold probabilities of a standardised, L2-regularised logistic regression, solved by Newton's method.

The same model as scikit-learn's `StandardScaler → [PCA] → LogisticRegression(C)` pipeline scored with
`cross_val_predict` on `StratifiedKFold` folds, and the same objective (C · summed log-loss + ½‖w‖², intercept
unpenalised; binary loss for two classes, multinomial above), solved to a tighter tolerance than lbfgs. The
problems here are small (≤ a few thousand rows, ≤ 50 components after PCA), so exact Newton steps in float64
converge in about ten iterations, where the pipeline spent seconds per fold in validation, randomised SVD and
lbfgs. PCA is exact (an eigendecomposition of the training fold's covariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh  # loaded with the suite, so its one-thread limit reaches this LAPACK and BLAS too
from scipy.linalg.blas import dsyrk

MAX_NEWTON_STEPS = 100
# From this many columns the principal axes come from a partial eigendecomposition (the leading k pairs only);
# below, a full one costs a few milliseconds.
SUBSET_EIGH_COLUMNS = 256
GRADIENT_TOLERANCE = 1e-9  # on the objective's gradient, relative to C · rows


def standardise(train: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale by the training rows' mean and (population) SD; a constant column is only centred, as in sklearn."""
    mean, sd = train.mean(0), train.std(0, correction=0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return (train - mean) / sd, (other - mean) / sd


def principal_axes(train: torch.Tensor, k: int) -> torch.Tensor:
    """The training rows' top-k principal axes (columns; exact, from the covariance's eigendecomposition)."""
    centred = train - train.mean(0)
    if centred.shape[1] > centred.shape[0]:  # wide rows (image pixels): the same axes from the thin SVD, whose
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # cost grows with rows² x columns, not columns³
        return vh[:k].T
    columns = centred.shape[1]
    if columns < SUBSET_EIGH_COLUMNS or k >= columns:
        return torch.linalg.eigh(centred.T @ centred)[1][:, -k:].flip(1)
    # only the k leading eigenpairs (LAPACK's MRRR driver): a third of a full eigh on MNIST's 784 columns
    _, vectors = eigh((centred.T @ centred).numpy(), subset_by_index=[columns - k, columns - 1], driver="evr")
    return torch.from_numpy(np.ascontiguousarray(vectors[:, ::-1]))


def _with_intercept(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)


def _probabilities(x1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class probabilities, (rows, classes); one weight column means the binary (sigmoid) model."""
    z = x1 @ weights
    if weights.shape[1] == 1:
        p = torch.sigmoid(z)
        return torch.cat([1 - p, p], 1)
    return torch.softmax(z, 1)


def _objective(x1: torch.Tensor, onehot: torch.Tensor, weights: torch.Tensor, c: float) -> torch.Tensor:
    z = x1 @ weights
    if weights.shape[1] == 1:
        loss = torch.nn.functional.softplus(z) - onehot[:, 1:] * z
    else:
        loss = torch.logsumexp(z, 1, keepdim=True) - (onehot * z).sum(1, keepdim=True)
    return c * loss.sum() + 0.5 * (weights[:-1] ** 2).sum()


@dataclass(frozen=True)
class _Curvature:
    """The objective's second-order terms at one point: products with the Hessian, and its diagonal."""

    x1: torch.Tensor
    probs: torch.Tensor
    c: float
    penalty: torch.Tensor  # 1 on weights, 0 on intercepts (unpenalised), plus a tiny ridge there

    def times(self, v: torch.Tensor) -> torch.Tensor:
        """H v, with v shaped like the weights."""
        u = self.x1 @ v
        if v.shape[1] == 1:
            r = self.probs[:, 1:] * self.probs[:, :1] * u
        else:  # softmax: (diag(p) - p pᵀ) u per row
            pu = self.probs * u
            r = pu - self.probs * pu.sum(1, keepdim=True)
        return self.c * self.x1.T @ r + self.penalty * v

    def matrix(self, k: int) -> torch.Tensor:
        """The Hessian itself, ((features + 1) · k)², ordered like the weights flattened column by column."""
        x1, probs, c = self.x1, self.probs, self.c
        d = x1.shape[1]
        if k == 1:
            hessian = c * (x1 * (probs[:, 1] * probs[:, 0])[:, None]).T @ x1
        else:  # H[(a, i), (b, j)] = c Σ_n x1[n, i] (δ_ab p_na - p_na p_nb) x1[n, j]: block diagonal minus Qᵀ Q
            n = x1.shape[0]
            scaled = (probs.T[:, :, None] * x1[None]).permute(1, 0, 2).reshape(n, k * d)  # Q: p_na x1[n, i]
            upper = torch.from_numpy(dsyrk(-c, scaled.numpy().T))  # Qᵀ Q's upper triangle: half a product's work
            hessian = upper + upper.triu(1).T
            diagonal = c * torch.matmul(scaled.reshape(n, k, d).permute(1, 2, 0), x1)  # (k, d, d)
            for a in range(k):
                block = slice(a * d, (a + 1) * d)
                hessian[block, block] += diagonal[a]
        return hessian + torch.diag(self.penalty.T.flatten())


def _gradient(x1: torch.Tensor, onehot: torch.Tensor, weights: torch.Tensor,
              c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective's gradient (shaped like the weights) and the class probabilities it used."""
    probs = _probabilities(x1, weights)
    residual = probs[:, 1:] - onehot[:, 1:] if weights.shape[1] == 1 else probs - onehot
    penalised = weights.clone()
    penalised[-1] = 0.0
    return c * x1.T @ residual + penalised, probs


class _Preconditioner:
    """The Cholesky factor of an exact Hessian, refreshed only when conjugate gradients stop converging
    quickly: the Hessian changes slowly between Newton steps, so a lagged one makes each step cost a few
    Hessian-vector products instead of a new ((features + 1) · classes)² matrix."""

    REFRESH_AFTER = 8  # CG iterations

    def __init__(self) -> None:
        self.factor: torch.Tensor | None = None

    def refresh(self, curvature: _Curvature, k: int) -> None:
        self.factor = torch.linalg.cholesky(curvature.matrix(k))

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        assert self.factor is not None
        flat = torch.cholesky_solve(r.T.reshape(-1, 1), self.factor)
        return flat.reshape(r.shape[1], r.shape[0]).T


def _newton_direction(curvature: _Curvature, grad: torch.Tensor, tolerance: float,
                      preconditioner: _Preconditioner) -> torch.Tensor:
    """H⁻¹ grad by preconditioned conjugate gradients to a relative residual `tolerance` (truncated Newton:
    inexact early steps, exact ones near the optimum)."""
    k = grad.shape[1]
    if preconditioner.factor is not None:
        step = _conjugate_gradients(curvature, grad, tolerance, preconditioner, _Preconditioner.REFRESH_AFTER)
        if step is not None:
            return step
    preconditioner.refresh(curvature, k)  # none yet, or the lagged one is stale
    step = _conjugate_gradients(curvature, grad, tolerance, preconditioner, grad.numel())
    assert step is not None
    return step


def _conjugate_gradients(curvature: _Curvature, grad: torch.Tensor, tolerance: float,
                         preconditioner: _Preconditioner, max_iterations: int) -> torch.Tensor | None:
    """Solve H s = grad; None when `max_iterations` did not reach the relative residual `tolerance`."""
    step = torch.zeros_like(grad)
    residual = grad.clone()
    z = preconditioner.apply(residual)
    direction = z.clone()
    rz = (residual * z).sum()
    limit = tolerance * float(grad.norm())
    for _ in range(max_iterations):
        if float(residual.norm()) <= limit:
            return step
        h_direction = curvature.times(direction)
        alpha = rz / (direction * h_direction).sum()
        step += alpha * direction
        residual -= alpha * h_direction
        z = preconditioner.apply(residual)
        rz, previous = (residual * z).sum(), rz
        direction = z + (rz / previous) * direction
    return step if float(residual.norm()) <= limit or max_iterations == grad.numel() else None


def fit_logistic(x: np.ndarray | torch.Tensor, target: np.ndarray, n_classes: int, c: float = 1.0) -> torch.Tensor:
    """Weights ((features + 1) × (1 if binary else classes), intercept last) minimising
    c · Σ log-loss + ½‖w‖² by truncated Newton steps with backtracking."""
    x1 = _with_intercept(torch.as_tensor(x, dtype=torch.float64))
    onehot = torch.nn.functional.one_hot(torch.as_tensor(target, dtype=torch.int64), n_classes).double()
    k = 1 if n_classes == 2 else n_classes
    weights = torch.zeros(x1.shape[1], k, dtype=torch.float64)
    # The softmax's intercepts may all shift by one constant: a tiny ridge fixes that direction (the gradient
    # has no component along it, so the solution does not move).
    penalty = torch.ones_like(weights)
    penalty[-1] = 1e-9 * c * x1.shape[0]
    scale = c * x1.shape[0]
    value = _objective(x1, onehot, weights, c)
    preconditioner = _Preconditioner()
    for _ in range(MAX_NEWTON_STEPS):
        grad, probs = _gradient(x1, onehot, weights, c)
        size = float(grad.abs().max()) / scale
        if size <= GRADIENT_TOLERANCE:
            break
        step = _newton_direction(_Curvature(x1, probs, c, penalty), grad, min(0.5, size**0.5),
                                 preconditioner)
        for halving in range(40):  # backtracking: accept the first step that lowers the objective
            candidate = weights - step * 0.5**halving
            new_value = _objective(x1, onehot, candidate, c)
            if new_value <= value:
                break
        if new_value > value:  # no decrease at all: already at the optimum to machine precision
            break
        weights, value = candidate, new_value
    return weights


def predict_proba(weights: torch.Tensor, x: np.ndarray | torch.Tensor) -> np.ndarray:
    return _probabilities(_with_intercept(torch.as_tensor(x, dtype=torch.float64)), weights).numpy()


def out_of_fold_proba(features: np.ndarray, target: np.ndarray, folds: int, seed: int, max_features: int,
                      c: float = 1.0) -> np.ndarray:
    """Each row's class probabilities from the model fitted on the other folds (stratified, shuffled by `seed`):
    standardise on the training folds, reduce to `max_features` principal components when wider, then fit."""
    from sklearn.model_selection import StratifiedKFold  # the folds sklearn's cross_val_predict would use

    n_classes = int(target.max()) + 1
    x = torch.as_tensor(features, dtype=torch.float64)
    out = np.zeros((target.size, n_classes))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(target.size), target):
        fit_x, score_x = standardise(x[train], x[test])
        if x.shape[1] > max_features:
            axes, mean = principal_axes(fit_x, max_features), fit_x.mean(0)
            fit_x, score_x = (fit_x - mean) @ axes, (score_x - mean) @ axes
        out[test] = predict_proba(fit_logistic(fit_x, target[train], n_classes, c), score_x)
    return out

