"""Freed memory handed back to the system when the node is quiet."""

from __future__ import annotations

import platform

from gateway.memory import load_malloc_trim


def test_malloc_trim_loads_on_glibc() -> None:
    release = load_malloc_trim()
    if platform.libc_ver()[0] != "glibc":
        assert release is None or callable(release)
        return
    assert release is not None
    assert isinstance(release(), bool)
