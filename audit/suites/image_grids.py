"""Pixels for the report's picture grids (`ImageGrid`), from image tensors of any size and channel count.

Grey images (one channel) are H x W values; colour images (three channels) are H rows of 3W values, r, g, b per
pixel (`cmap="rgb"`). Images larger than MAX_SIDE pixels a side are shrunk by area averaging first, so a 224x224
model input does not put megabytes of numbers in scorecard.json; the caption should say so (`shrunk_note`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

MAX_SIDE = 64
Pixels = tuple[tuple[float, ...], ...]


def _shrunk(image: torch.Tensor) -> torch.Tensor:
    """(c, h, w) -> the same, area-averaged to at most MAX_SIDE a side (unchanged when already small enough)."""
    height, width = image.shape[-2:]
    factor = math.ceil(max(height, width) / MAX_SIDE)
    if factor <= 1:
        return image
    size = (max(1, height // factor), max(1, width // factor))
    return torch.nn.functional.adaptive_avg_pool2d(image.unsqueeze(0).float(), size)[0]


def is_colour(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] == 3


def image_cmap(shape: tuple[int, ...]) -> str:
    """The ImageGrid colour map of input images of `shape` (c, h, w)."""
    return "rgb" if is_colour(shape) else "gray"


def input_pixels(image: torch.Tensor | np.ndarray, digits: int = 4) -> Pixels:
    """One input image (c, h, w) in [0, 1] as grid pixels: colour interleaved when c == 3, else its first channel."""
    small = _shrunk(torch.as_tensor(image))
    if is_colour(tuple(small.shape)):
        rows = small.permute(1, 2, 0).reshape(small.shape[1], -1)
    else:
        rows = small[0]
    return tuple(tuple(round(float(v), digits) for v in row) for row in rows)


def map_array(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A per-input-value map (c, h, w), e.g. attributions, summed over channels and over shrunk areas: (H, W)."""
    summed = torch.as_tensor(np.asarray(values, dtype=np.float64)).sum(dim=0, keepdim=True)
    height, width = summed.shape[-2:]
    small = _shrunk(summed)
    area = (height * width) / (small.shape[-2] * small.shape[-1])  # keep sums, not means, when shrinking
    return small[0].double().numpy() * area if area != 1 else small[0].numpy()


def map_pixels(values: torch.Tensor | np.ndarray, digits: int = 4) -> Pixels:
    """`map_array` as H x W grid pixels."""
    return tuple(tuple(round(float(v), digits) for v in row) for row in map_array(values))


def shrunk_note(shape: tuple[int, ...]) -> str:
    """A caption sentence when the grid shows images smaller than the model's input, else ''."""
    height, width = shape[-2:]
    if max(height, width) <= MAX_SIDE:
        return ""
    factor = math.ceil(max(height, width) / MAX_SIDE)
    return f" Shown shrunk {factor}x (area average) from the model's {height}x{width} input."
