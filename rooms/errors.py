"""Exceptions raised by the rooms package."""

from __future__ import annotations

__all__ = ["AlreadyQueuedError", "ConfigError", "QueueFullError"]


class ConfigError(ValueError):
    """Invalid service-line configuration; the message names the offending field."""


class QueueFullError(Exception):
    """The line's queue is at its maximum length."""


class AlreadyQueuedError(Exception):
    """The ticket is already waiting in that line's queue."""
