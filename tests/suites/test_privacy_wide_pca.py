"""Principal axes of wide rows (image pixels: more columns than rows) come from the thin SVD; they must equal
scikit-learn's PCA components (up to sign) as the covariance route does for narrow rows (a full eigendecomposition,
or the leading pairs only from SUBSET_EIGH_COLUMNS columns)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from audit.suites.privacy.logistic import principal_axes


@pytest.mark.parametrize("rows, columns", [(60, 500), (200, 30), (500, 300)])  # SVD, full and partial eigh
def test_principal_axes_equal_sklearn_pca(rows, columns):
    x = np.random.default_rng(0).normal(size=(rows, columns)) @ np.diag(np.linspace(3, 0.1, columns))
    ours = principal_axes(torch.as_tensor(x), 10).numpy()
    reference = PCA(n_components=10, svd_solver="full").fit(x).components_.T
    assert np.allclose(np.abs((ours * reference).sum(axis=0)), 1.0, atol=1e-8)
