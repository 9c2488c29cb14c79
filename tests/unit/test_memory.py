"""Freed memory handed back to the system when the node is quiet."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from typing import Any

import pytest

from gateway.memory import load_malloc_trim

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; this C library has none")
def test_malloc_trim_hands_freed_heap_back_on_glibc() -> None:
    release = load_malloc_trim()
    assert release is not None
    # 40 MB in blocks of 1 KiB (above pymalloc's limit, so from glibc's heap, below its mmap
    # threshold), then all but the last freed: the free space sits under a live block, where
    # only malloc_trim can return it.
    blocks = [bytes(1024) for _ in range(40_000)]
    keep = blocks[-1]
    del blocks
    assert release() is True
    assert len(keep) == 1024


def test_no_c_library_means_no_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert load_malloc_trim() is None


def test_a_c_library_without_malloc_trim_means_no_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    class Musl:  # a C library such as musl: no malloc_trim
        def __init__(self, name: str) -> None:
            self.name = name

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc.so")
    monkeypatch.setattr(ctypes, "CDLL", Musl)
    assert load_malloc_trim() is None

    def missing(name: str) -> Any:
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert load_malloc_trim() is None
