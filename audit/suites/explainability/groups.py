"""Feature groups: the units attributions are reported on.

Tabular: one group per original feature (one-hot columns summed back to their feature).
Images: square pixel patches for rankings and permutation tests, plus the per-pixel maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audit.data.types import Dataset


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    columns: tuple[int, ...]  # indices into the flattened model input
    sensitive: bool = False


def feature_groups(data: Dataset, patches_per_side: int = 7) -> tuple[FeatureGroup, ...]:
    """Groups for `data`: its FeatureSpecs, else one group per input column, or image patches."""
    if data.input_kind == "image":
        return image_patches(data.input_shape, patches_per_side)
    if data.features:
        return tuple(FeatureGroup(f.name, tuple(f.columns), f.sensitive) for f in data.features)
    width = int(np.prod(data.input_shape))
    names = data.feature_names or tuple(f"x{i}" for i in range(width))
    return tuple(FeatureGroup(name, (i,)) for i, name in enumerate(names))


def image_patches(shape: tuple[int, ...], per_side: int) -> tuple[FeatureGroup, ...]:
    """Square patches (all channels) tiling an image of shape (c, h, w), row-major, named "r{i}c{j}"."""
    channels, height, width = shape
    step_h, step_w = math.ceil(height / per_side), math.ceil(width / per_side)
    index = np.arange(channels * height * width).reshape(channels, height, width)
    groups = []
    for top in range(0, height, step_h):
        for left in range(0, width, step_w):
            cols = index[:, top : top + step_h, left : left + step_w].ravel()
            groups.append(FeatureGroup(f"r{top // step_h}c{left // step_w}", tuple(int(c) for c in cols)))
    return tuple(groups)


def group_sum(values: np.ndarray, groups: tuple[FeatureGroup, ...]) -> np.ndarray:
    """(n, D) per-column values -> (n, G) per-group sums (signed SHAP values add within a feature)."""
    return np.stack([values[:, list(g.columns)].sum(axis=1) for g in groups], axis=1)
