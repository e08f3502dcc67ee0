"""Image data for image classifiers: paths relative to the data file, ImageFolder layouts, and bad rows refused
with their row numbers (nothing dropped silently). Decoding is checked against Pillow + numpy directly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from audit.data import images
from audit.data.images import ImageColumns, load_image_data
from audit.errors import AuditInputError

CLASSES = ("red", "green")


class RescaleOnly:
    """A stand-in pixel encoder: 8-bit RGB -> (3, h, w) in [0, 1], no resizing."""

    mode = "RGB"

    def images_to_inputs(self, batch):
        return torch.stack([torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1) for im in batch])


def _png(path: Path, colour: int, side: int = 6) -> np.ndarray:
    array = np.zeros((side, side, 3), np.uint8)
    array[..., colour] = 200 + colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _table(tmp_path: Path, paths: list, labels: list | None = None) -> Path:
    labels = labels or [CLASSES[i % 2] for i in range(len(paths))]
    sites = ["a", "b"] * (len(paths) // 2) + ["a"] * (len(paths) % 2)
    frame = pd.DataFrame({"file": paths, "label": labels, "site": sites})
    frame.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv"


def test_table_paths_relative_to_the_data_file(tmp_path):
    expected = [_png(tmp_path / "img" / f"{i}.png", i % 2) for i in range(4)]
    csv = _table(tmp_path, [f"img/{i}.png" for i in range(4)])
    data = load_image_data(csv, ImageColumns("file", "label", ("site",)), CLASSES, RescaleOnly())
    assert data.input_kind == "image" and data.input_shape == (3, 6, 6)
    assert data.test.y.tolist() == [0, 1, 0, 1]
    assert list(data.test.sensitive["site"]) == ["a", "b", "a", "b"]
    for x, array in zip(data.test.x, expected, strict=True):
        assert torch.allclose(x, torch.from_numpy(array / 255).float().permute(2, 0, 1))


def test_bad_rows_are_all_named_with_their_row_numbers(tmp_path):
    for i in range(2):
        _png(tmp_path / "img" / f"{i}.png", i)
    (tmp_path / "img" / "notes.png").write_text("not an image")
    (tmp_path / "img" / "sub").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    _png(outside, 0)
    paths = ["img/0.png", "", "img/missing.png", "img/notes.png", f"../{outside.name}", str(outside), "img/sub",
             "img/1.png"]
    with pytest.raises(AuditInputError) as caught:
        load_image_data(_table(tmp_path, paths), ImageColumns("file", "label"), CLASSES, RescaleOnly())
    message = str(caught.value)
    for reason, row in (("empty image path", "2"), ("missing file", "3"), ("leaving the data file's folder", "5"),
                        ("absolute path", "6"), ("not a regular file", "7")):
        assert f"{reason}" in message and f": {row}" in message.split(reason)[1][:60], (reason, message)
    assert "nothing is dropped silently" in message
    # the first problems stop the run before decoding: an unreadable image is named once the paths are fixed
    with pytest.raises(AuditInputError, match=r"unreadable image \(UnidentifiedImageError\) in data rows: 2"):
        load_image_data(_table(tmp_path, ["img/0.png", "img/notes.png"]), ImageColumns("file", "label"), CLASSES,
                        RescaleOnly())


def test_symlink_out_of_the_data_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "secret.png"
    _png(outside, 1)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.symlink(outside, data_dir / "link.png")
    with pytest.raises(AuditInputError, match="leaving the data file's folder in data rows: 1"):
        load_image_data(_table(data_dir, ["link.png"]), ImageColumns("file", "label"), CLASSES, RescaleOnly())


def test_decompression_bomb_limit_and_file_size_cap(tmp_path, monkeypatch):
    _png(tmp_path / "big.png", 0, side=40)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1000)  # 40x40 = 1600 pixels
    with pytest.raises(AuditInputError, match=r"more than 1,000 pixels\) in data rows: 1"):
        load_image_data(_table(tmp_path, ["big.png"]), ImageColumns("file", "label"), CLASSES, RescaleOnly())
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(AuditInputError, match="file larger than"):
        load_image_data(_table(tmp_path, ["big.png"]), ImageColumns("file", "label"), CLASSES, RescaleOnly())


def test_decoders_are_an_allow_list(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "x.ico")  # a format Pillow reads, not allowed
    (tmp_path / "x.ico").rename(tmp_path / "x.png")
    with pytest.raises(AuditInputError, match="unreadable image"):
        load_image_data(_table(tmp_path, ["x.png"]), ImageColumns("file", "label"), CLASSES, RescaleOnly())


def test_image_folder_layout(tmp_path):
    for i in range(3):
        _png(tmp_path / "red" / f"{i}.png", 0)
    _png(tmp_path / "green" / "deeper" / "a.png", 1)
    (tmp_path / "red" / ".hidden").write_text("ignored")
    data = load_image_data(tmp_path, ImageColumns(None, None), CLASSES, RescaleOnly())
    assert sorted(data.test.y.tolist()) == [0, 0, 0, 1]
    assert "class subfolders" in data.source
    (tmp_path / "red" / "readme.txt").write_text("x")
    (tmp_path / "stray.png").write_bytes(b"")
    with pytest.raises(AuditInputError) as caught:
        load_image_data(tmp_path, ImageColumns(None, None), CLASSES, RescaleOnly())
    assert "red/readme.txt" in str(caught.value) and "stray.png" in str(caught.value)


def test_folder_label_mismatch_names_both(tmp_path):
    _png(tmp_path / "cat" / "0.png", 0)
    with pytest.raises(AuditInputError) as caught:
        load_image_data(tmp_path, ImageColumns(None, None), CLASSES, RescaleOnly())
    assert "'cat'" in str(caught.value) and "'red', 'green'" in str(caught.value)


def test_same_files_same_hash_changed_pixel_new_hash(tmp_path):
    _png(tmp_path / "a.png", 0)
    csv = _table(tmp_path, ["a.png"])
    first = load_image_data(csv, ImageColumns("file", "label"), CLASSES, RescaleOnly()).sha256
    assert load_image_data(csv, ImageColumns("file", "label"), CLASSES, RescaleOnly()).sha256 == first
    _png(tmp_path / "a.png", 1)
    assert load_image_data(csv, ImageColumns("file", "label"), CLASSES, RescaleOnly()).sha256 != first
