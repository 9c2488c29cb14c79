"""Give freed heap memory back to the system when the node goes quiet.

Peer connections allocate through C libraries (OpenSSL, libsrtp, FFmpeg) on glibc's heap;
glibc keeps freed chunks for reuse, so after a busy hour the process stays at its peak size.
``malloc_trim`` returns what is free. It runs only when no call is in progress.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


def load_malloc_trim() -> Callable[[], bool] | None:
    """glibc's ``malloc_trim(0)``, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> bool:
        return bool(trim(0))

    return release
