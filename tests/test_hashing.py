"""The one file-digest helper against hashlib on whole bytes (an independent, in-memory computation)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from audit.hashing import file_sha256, files_sha256


def test_file_sha256_equals_hashlib_on_the_bytes(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 5000)  # larger than one read buffer
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for path in (big, empty):
        assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
        assert file_sha256(str(path)) == file_sha256(path)


def test_files_sha256_streams_the_concatenation_with_optional_names(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.json"
    a.write_bytes(b"\x00\x01" * 300_000)
    b.write_bytes(b'{"x": 1}')
    assert files_sha256([a, b]) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    named = hashlib.sha256(b"a.safetensors" + a.read_bytes() + b"b.json" + b.read_bytes()).hexdigest()
    assert files_sha256([a, b], with_names=True) == named
    assert files_sha256([b, a]) != files_sha256([a, b])
