"""glibc's thresholds are raised at start-up where the C library is glibc, and nothing breaks elsewhere."""

from __future__ import annotations

import ctypes
import platform

import pytest

from audit import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_thresholds_are_set_on_glibc() -> None:
    assert allocator.keep_freed_memory() is True


def test_no_c_library_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(_name: str) -> None:
        raise OSError("no such library")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert allocator.keep_freed_memory() is False


def test_the_command_line_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.cli as cli

    calls: list[bool] = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.setattr(cli, "app", lambda prog_name: None)
    cli.main()
    assert calls == [True]
