"""Minimal PNG encoding (stdlib zlib) and colour maps for image charts; deterministic bytes."""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence

Pixels = Sequence[Sequence[float]]
RGB = tuple[int, int, int]

_DIVERGING_LOW: RGB = (59, 76, 192)  # blue: negative
_DIVERGING_MID: RGB = (247, 247, 247)
_DIVERGING_HIGH: RGB = (180, 4, 38)  # red: positive


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(rows: Sequence[bytes], width: int, height: int, rgb: bool) -> bytes:
    """8-bit greyscale or RGB PNG from raw rows (no filtering)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    chunks = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def _clean(value: float) -> float:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else 0.0


def _blend(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def diverging_colour(t: float) -> RGB:
    """t in [-1, 1]: blue (negative) through near-white (zero) to red (positive)."""
    t = max(-1.0, min(1.0, t))
    return _blend(_DIVERGING_MID, _DIVERGING_HIGH, t) if t >= 0 else _blend(_DIVERGING_MID, _DIVERGING_LOW, -t)


def sequential_colour(t: float) -> RGB:
    """t in [0, 1]: near-white to dark blue."""
    return _blend((247, 251, 255), (8, 48, 107), max(0.0, min(1.0, t)))


def grey_png(pixels: Pixels) -> bytes:
    """Values in [0, 1] (clipped; NaN as 0) as black-to-white greyscale."""
    rows = [bytes(round(max(0.0, min(1.0, _clean(v))) * 255) for v in row) for row in pixels]
    return encode_png(rows, len(pixels[0]) if pixels else 0, len(pixels), rgb=False)


def rgb_png(pixels: Pixels) -> bytes:
    """Rows of interleaved r, g, b values in [0, 1] (clipped; NaN as 0) as a colour image."""
    rows = [bytes(round(max(0.0, min(1.0, _clean(v))) * 255) for v in row) for row in pixels]
    return encode_png(rows, len(pixels[0]) // 3 if pixels else 0, len(pixels), rgb=True)


def diverging_png(pixels: Pixels) -> bytes:
    """Signed values scaled by this image's largest magnitude, so zero is always white."""
    scale = max((abs(_clean(v)) for row in pixels for v in row), default=0.0) or 1.0
    rows = [bytes(c for v in row for c in diverging_colour(_clean(v) / scale)) for row in pixels]
    return encode_png(rows, len(pixels[0]) if pixels else 0, len(pixels), rgb=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
