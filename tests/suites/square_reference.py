"""The Square attack's authors' reference code for L∞ (github.com/max-andr/square-attack, attack.py:
`square_attack_linf` with the margin loss, the untargeted default), ported to a `predict` function and a chosen
seed, as an independent implementation to check `audit.suites.robustness.blackbox.square_attack` against.

Copyright (c) 2019, Maksym Andriushchenko, Francesco Croce, Nicolas Flammarion, Matthias Hein. All rights
reserved. Redistributed under the BSD 3-Clause license of the original: redistributions must retain this
copyright notice, this list of conditions and the disclaimer; neither the names of the copyright holder nor of
its contributors may be used to endorse or promote products derived from this software without specific prior
written permission. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR
IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A
PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY
DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES ARISING IN ANY WAY OUT OF THE USE OF
THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

Changes from the original: `predict` and `seed` are arguments, the logging and metrics files are gone, and the
points of the rows it did not attack (already misclassified) are returned unchanged. The loop is the original's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def p_selection(p_init: float, it: int, n_iters: int) -> float:
    """Piece-wise constant schedule for p (the fraction of pixels changed on every iteration)."""
    it = int(it / n_iters * 10000)
    for low, high, divisor in ((10, 50, 2), (50, 200, 4), (200, 500, 8), (500, 1000, 16), (1000, 2000, 32),
                               (2000, 4000, 64), (4000, 6000, 128), (6000, 8000, 256), (8000, 10000, 512)):
        if low < it <= high:
            return p_init / divisor
    return p_init


def margin_loss(y: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The correct class's logit minus the best other one."""
    correct = np.eye(logits.shape[1], dtype=bool)[y]
    diff = logits[correct][:, None] - logits
    diff[correct] = np.inf
    return diff.min(1)


def square_attack_linf(predict: Callable[[np.ndarray], np.ndarray], x_all: np.ndarray, y_all: np.ndarray,
                       eps: float, n_iters: int, p_init: float = 0.8, seed: int = 0) -> np.ndarray:
    """Adversarial images for (n, c, h, w) inputs in [0, 1]; at most `n_iters` queries per image."""
    np.random.seed(seed)
    min_val, max_val = 0, 1
    corr_classified = predict(x_all).argmax(1) == y_all
    x, y = x_all[corr_classified], y_all[corr_classified]
    c, h, w = x.shape[1:]
    n_features = c * h * w

    init_delta = np.random.choice([-eps, eps], size=[x.shape[0], c, 1, w])  # vertical stripes
    x_best = np.clip(x + init_delta, min_val, max_val)
    margin_min = margin_loss(y, predict(x_best))
    loss_min = margin_min.copy()
    for i_iter in range(n_iters - 1):
        idx_to_fool = margin_min > 0
        x_curr, x_best_curr, y_curr = x[idx_to_fool], x_best[idx_to_fool], y[idx_to_fool]
        loss_min_curr, margin_min_curr = loss_min[idx_to_fool], margin_min[idx_to_fool]
        deltas = x_best_curr - x_curr

        p = p_selection(p_init, i_iter, n_iters)
        for i_img in range(x_best_curr.shape[0]):
            s = int(round(np.sqrt(p * n_features / c)))
            s = min(max(s, 1), h - 1)  # at least c x 1 x 1 window is taken and at most c x h-1 x h-1
            center_h = np.random.randint(0, h - s)
            center_w = np.random.randint(0, w - s)
            x_curr_window = x_curr[i_img, :, center_h:center_h + s, center_w:center_w + s]
            x_best_curr_window = x_best_curr[i_img, :, center_h:center_h + s, center_w:center_w + s]
            # prevent trying out a delta if it doesn't change x_curr (e.g. an overlapping patch)
            while np.sum(np.abs(np.clip(x_curr_window + deltas[i_img, :, center_h:center_h + s,
                                                               center_w:center_w + s], min_val, max_val)
                                - x_best_curr_window) < 10**-7) == c * s * s:
                deltas[i_img, :, center_h:center_h + s, center_w:center_w + s] = np.random.choice([-eps, eps],
                                                                                              size=[c, 1, 1])
        x_new = np.clip(x_curr + deltas, min_val, max_val)
        margin = margin_loss(y_curr, predict(x_new))
        loss = margin

        idx_improved = loss < loss_min_curr
        loss_min[idx_to_fool] = idx_improved * loss + ~idx_improved * loss_min_curr
        margin_min[idx_to_fool] = idx_improved * margin + ~idx_improved * margin_min_curr
        idx_improved = np.reshape(idx_improved, [-1, *[1] * len(x.shape[:-1])])
        x_best[idx_to_fool] = idx_improved * x_new + ~idx_improved * x_best_curr
        if (margin_min > 0).sum() == 0:
            break
    out = x_all.copy()
    out[corr_classified] = x_best
    return out
