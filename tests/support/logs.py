"""Reading what reached the logs: every logger, every level, message, arguments, traceback."""

from __future__ import annotations

import logging

import pytest

# The production level policy (gateway.logs.configure_logging) holds these at WARNING.
HELD_AT_WARNING = ("aiortc", "aioice")


def capture_all_logs(caplog: pytest.LogCaptureFixture, hold_webrtc: bool = True) -> None:
    """Capture at the root logger, so every logger in the process is read.

    ``hold_webrtc``: keep aiortc and aioice at WARNING, as the gateway runs them.
    """
    caplog.set_level(logging.DEBUG)
    for name in logging.root.manager.loggerDict:
        logger = logging.getLogger(name)
        if logger.level != logging.NOTSET and not name.startswith(HELD_AT_WARNING):
            caplog.set_level(logging.DEBUG, logger=name)
    if hold_webrtc:
        for name in HELD_AT_WARNING:
            caplog.set_level(logging.WARNING, logger=name)
    # set_level on a named logger leaves the handler at its level: DEBUG (set above).
    caplog.handler.setLevel(logging.DEBUG)


def log_text(records: list[logging.LogRecord]) -> str:
    """All that a handler could write of ``records``: formatted lines with tracebacks, and
    what is left of the arguments and exceptions on the records themselves."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    parts = []
    for record in records:
        parts.append(formatter.format(record))
        parts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1].args))
    return "\n".join(parts)
