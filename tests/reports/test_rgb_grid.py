"""Colour picture grids: suites' pixels (interleaved r, g, b; large images shrunk) drawn as RGB PNGs that decode,
with Pillow, to the same colours."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import torch
from PIL import Image

from audit.reports.svg_grids import render_images
from audit.suites.image_grids import MAX_SIDE, image_cmap, input_pixels, map_pixels, shrunk_note
from audit.types import Chart, ImageGrid


def _decoded(svg: str) -> list[np.ndarray]:
    uris = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", svg)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(u)))) for u in uris]


def test_colour_image_round_trips_through_the_svg():
    image = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    pixels = input_pixels(image)
    assert len(pixels) == 5 and len(pixels[0]) == 21
    chart = Chart("c", "colour", "images", images=ImageGrid(("r",), ("a",), ((pixels,),), cmap=image_cmap((3, 5, 7))))
    svg = render_images(chart)
    (decoded,) = _decoded(svg)
    assert decoded.shape == (5, 7, 3)
    expected = np.round(np.round(image.permute(1, 2, 0).numpy(), 4) * 255)
    assert np.array_equal(decoded, expected.astype(np.uint8))
    assert 'width="' in svg and "Colour images" in svg


def test_large_images_shrink_by_area_average_and_maps_keep_sums():
    image = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(1))
    pixels = np.array(input_pixels(image))
    factor = -(-224 // MAX_SIDE)  # 4
    assert pixels.shape == (224 // factor, 3 * 224 // factor)
    block = image[:, :factor, :factor].mean(dim=(1, 2)).numpy()
    assert np.allclose(pixels[0, :3], block, atol=1e-4)
    values = torch.randn(3, 224, 224, dtype=torch.float64)
    shown = np.array(map_pixels(values, digits=10))
    assert np.isclose(shown.sum(), float(values.sum()), atol=1e-6)  # attributions add up after shrinking
    assert "4x" in shrunk_note((3, 224, 224)) and shrunk_note((3, 32, 32)) == ""


def test_grey_images_unchanged():
    image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(2))
    assert input_pixels(image) == tuple(tuple(round(float(v), 4) for v in row) for row in image[0])
    assert image_cmap((1, 28, 28)) == "gray"
