"""Image data for an image classifier: a CSV/Parquet file with an image-path column, or an ImageFolder directory.

A table: `--data FILE --image-column COL --label COL [--sensitive COL,...]`. Paths are relative to the data file's
folder and must stay inside it: absolute paths and paths that leave the folder (`..`, or a symlink pointing out;
symlinks are followed before the check) are refused, so a data file cannot make the audit read, and show in its
report, an image from elsewhere on the machine.
An ImageFolder: `--data DIR` with one subfolder per class (named as the model's class names or ids), images inside
(nested folders allowed); no --label, no --sensitive (there are no columns).

Every image is read with Pillow through an allow-list of decoders (PNG, JPEG, BMP, GIF, WebP, TIFF; the first
frame), at most MAX_IMAGE_BYTES per file and MAX_IMAGE_PIXELS per image (checked from the header before decoding,
and Pillow's own decompression-bomb limit set to it while reading). Bad rows (empty path, missing file, refused
path, unreadable or oversized image) are all reported together with their row numbers (or file names) and exit 2:
none is dropped silently. The Split's `x` is what the model's pixel encoder gives (`images_to_inputs`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from audit.data.text import label_ids
from audit.data.types import Dataset, Split
from audit.data.user import read_table, sensitive_groups
from audit.errors import AuditInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DECODERS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")  # Pillow formats read; never EPS/PSD & co.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # width x height of one image
_BATCH = 64  # images decoded and processed at a time (bounded memory)
_SHOWN = 10


class ImageEncoder(Protocol):
    mode: str  # the Pillow mode images are converted to ("RGB", "L")

    def images_to_inputs(self, images: Sequence[Any]) -> torch.Tensor: ...


@dataclass(frozen=True)
class ImageColumns:
    image: str | None  # the path column of a table; None for an ImageFolder
    label: str | None
    sensitive: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Rows:
    """One split before decoding: resolved files, labels as given, where each row is (for messages)."""

    files: tuple[Path, ...]
    labels: pd.Series
    sensitive: pd.DataFrame
    names: tuple[str, ...]  # "data row 3" for a table, the relative path for a folder
    source: Path


class _Problems:
    """Bad rows collected by reason, reported all at once."""

    def __init__(self) -> None:
        self.by_reason: dict[str, list[str]] = {}

    def add(self, reason: str, where: str) -> None:
        self.by_reason.setdefault(reason, []).append(where)

    def raise_if_any(self, source: Path) -> None:
        if not self.by_reason:
            return
        parts = []
        for reason, where in self.by_reason.items():
            shown = ", ".join(where[:_SHOWN]) + (f" and {len(where) - _SHOWN} more" if len(where) > _SHOWN else "")
            parts.append(f"{reason}: {shown}")
        total = sum(len(w) for w in self.by_reason.values())
        raise AuditInputError(f"{total} image row(s) of {source.name!r} cannot be used — " + "; ".join(parts)
                              + ". Fix or remove them; nothing is dropped silently")


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.relative_to(root)
    except ValueError:
        return False
    return True


def _table_rows(path: Path, columns: ImageColumns, missing_group: bool) -> _Rows:
    frame = read_table(path)
    assert columns.image is not None and columns.label is not None
    for role, column in (("Image", columns.image), ("Label", columns.label),
                         *(("Sensitive", c) for c in columns.sensitive)):
        if column not in frame.columns:
            raise AuditInputError(f"{role} column {column!r} is not in {path.name!r}; its columns are "
                                  f"{list(map(str, frame.columns))}")
    root = path.parent.resolve()
    problems, files = _Problems(), []
    for i, value in enumerate(frame[columns.image]):
        where = f"{i + 1}"
        file = _table_file(root, value, where, problems)
        files.append(file if file is not None else root)
    problems.raise_if_any(path)
    names = tuple(f"{i + 1}" for i in range(len(frame)))
    return _Rows(tuple(files), frame[columns.label], sensitive_groups(frame, columns.sensitive, path, missing_group),
                 names, path)


def _table_file(root: Path, value: Any, where: str, problems: _Problems) -> Path | None:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    if not text:
        problems.add("empty image path in data rows", where)
        return None
    given = Path(text)
    if given.is_absolute():
        problems.add("absolute path (give paths relative to the data file) in data rows", where)
        return None
    file = (root / given).resolve()
    if not _inside(root, file):
        problems.add("path leaving the data file's folder in data rows", where)
        return None
    if not file.exists():
        problems.add("missing file in data rows", where)
        return None
    if not file.is_file():
        problems.add("not a regular file in data rows", where)
        return None
    return file


def _folder_rows(root: Path) -> _Rows:
    root = root.resolve()
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    problems = _Problems()
    for stray in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        problems.add("file outside any class subfolder", stray.name)
    files, labels, names = [], [], []
    for folder in classes:
        for file in _walk(folder):
            rel = file.relative_to(root).as_posix()
            resolved = file.resolve()
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                problems.add(f"not an image file ({', '.join(IMAGE_SUFFIXES)})", rel)
            elif not _inside(root, resolved) or not resolved.is_file():
                problems.add("link leaving the data folder or not a regular file", rel)
            else:
                files.append(resolved)
                labels.append(folder.name)
                names.append(rel)
    problems.raise_if_any(root)
    if not files:
        raise AuditInputError(f"the image folder {root} has no images in class subfolders (expected "
                              f"{root.name}/<class>/<image>{IMAGE_SUFFIXES[0]})")
    return _Rows(tuple(files), pd.Series(labels), pd.DataFrame(index=range(len(files))), tuple(names), root)


def _walk(folder: Path) -> Iterator[Path]:
    """Files under `folder` in sorted order, hidden ones skipped; symlinked folders are not entered."""
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(top) / name


@contextlib.contextmanager
def _pillow_limits() -> Iterator[Any]:
    """Pillow with the decompression-bomb limit set to MAX_IMAGE_PIXELS and its warning raised as an error."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield Image
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _decode(content: bytes, mode: str, image_module: Any) -> Any:
    """One image from its bytes (first frame), converted to `mode`; raises ValueError with the reason."""
    try:
        with image_module.open(io.BytesIO(content), formats=DECODERS) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{width}x{height}: more than {MAX_IMAGE_PIXELS:,} pixels")
            image.seek(0)
            return image.convert(mode)
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many kinds (UnidentifiedImageError, OSError, SyntaxError, bomb)
        if "DecompressionBomb" in type(exc).__name__:  # Pillow's own check on the header, before ours
            raise ValueError(f"more than {MAX_IMAGE_PIXELS:,} pixels") from None
        raise ValueError(type(exc).__name__) from None


def _encode(rows: _Rows, encoder: ImageEncoder, digest: Any) -> torch.Tensor:
    """Decode every image (all problems reported together), feed the encoder in batches; hash what was read."""
    problems, parts, batch = _Problems(), [], []
    label = "data rows" if rows.source.is_file() else "files"
    with _pillow_limits() as image_module:
        for file, name in zip(rows.files, rows.names, strict=True):
            size = file.stat().st_size
            if size > MAX_IMAGE_BYTES:
                problems.add(f"file larger than {MAX_IMAGE_BYTES // 2**20} MiB in {label}", name)
                continue
            content = file.read_bytes()
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
            try:
                image = _decode(content, encoder.mode, image_module)
            except ValueError as exc:
                problems.add(f"unreadable image ({exc}) in {label}", name)
                continue
            if problems.by_reason:  # the run stops after this loop: only look for further bad rows
                continue
            batch.append(image)
            if len(batch) == _BATCH:
                parts.append(encoder.images_to_inputs(batch))
                batch = []
    problems.raise_if_any(rows.source)
    if batch:
        parts.append(encoder.images_to_inputs(batch))
    return _stacked(parts, rows.source)


def _stacked(parts: list[torch.Tensor], source: Path) -> torch.Tensor:
    shapes = sorted({tuple(p.shape[1:]) for p in parts})
    if len(shapes) > 1:
        raise AuditInputError(f"the model's image processor gives images of different shapes {shapes} for "
                              f"{source.name!r} (it does not resize); resize the images to one size")
    return torch.cat(parts)


def _split(rows: _Rows, class_names: Sequence[str], encoder: ImageEncoder, label: str, digest: Any) -> Split:
    y = label_ids(rows.labels.reset_index(drop=True), class_names, label, rows.source)
    x = _encode(rows, encoder, digest)
    return Split(x=x, y=torch.tensor(y, dtype=torch.int64), sensitive=rows.sensitive.reset_index(drop=True))


def _rows(path: Path, columns: ImageColumns, missing_group: bool) -> _Rows:
    if path.is_dir():
        if columns.label or columns.sensitive:
            raise AuditInputError(f"{path} is an image folder: labels come from its class subfolders and it has no "
                                  "columns; leave out --label and --sensitive, or pass a CSV with --image-column")
        return _folder_rows(path)
    if not columns.image:
        raise AuditInputError(f"auditing an image classifier on {path.name!r} needs --image-column COLUMN naming the "
                              "image paths (relative to the data file), or --data a folder of class subfolders")
    if not columns.label:
        raise AuditInputError(f"auditing an image classifier on {path.name!r} needs --label COLUMN")
    return _table_rows(path, columns, missing_group)


def load_image_data(path: Path, columns: ImageColumns, class_names: Sequence[str], encoder: ImageEncoder,
                    train_path: Path | None = None, missing_group: bool = False) -> Dataset:
    """The audited images as the test split (and `train_path`'s, the model's members, as train)."""
    digest = hashlib.sha256(f"{columns}|{encoder.mode}".encode())
    splits = []
    for p in [path] + ([train_path] if train_path is not None else []):
        if not p.exists():
            raise AuditInputError(f"Data {str(p)!r} does not exist. Check the path given to --data/--train-data.")
        rows = _rows(p, columns, missing_group)
        if p.is_file():
            digest.update(hashlib.sha256(p.read_bytes()).digest())
        splits.append(_split(rows, class_names, encoder, columns.label or "class subfolder", digest))
    layout = f"image column {columns.image!r}" if columns.image else "class subfolders"
    return Dataset(
        name=path.name, task="binary" if len(class_names) == 2 else "multiclass", class_names=tuple(class_names),
        input_kind="image", feature_names=(), features=(), sensitive_attributes=columns.sensitive,
        train=splits[1] if len(splits) > 1 else None, test=splits[0],
        source=f"{path} ({layout}" + (f", train: {train_path}" if train_path else "") + ")",
        sha256=digest.hexdigest(),
    )
