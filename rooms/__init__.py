"""Domain logic of Tukilinja: service lines, opening hours, queues, call records, stores.

Plain Python: no aiortc, no aiohttp.
"""

from rooms.calls import CallOutcome, CallRecord, CallRecordStore, MemoryCallRecordStore
from rooms.clock import Clock, FakeClock, SystemClock
from rooms.errors import AlreadyQueuedError, ConfigError, QueueFullError
from rooms.estimate import (
    AnswerSample,
    LineLoad,
    LineStatsStore,
    MemoryLineStatsStore,
    estimate_wait_seconds,
)
from rooms.hours import OpeningHours, TimeRange
from rooms.lines import ServiceLine
from rooms.queues import MemoryQueueStore, QueueEntry, QueueStore
from rooms.status import LineStatus, NextOpening, line_status
from rooms.store import Store, create_memory_store
from rooms.tokens import MemoryOneTimeTokenStore, OneTimeTokenStore

__all__ = [
    "AlreadyQueuedError",
    "AnswerSample",
    "CallOutcome",
    "CallRecord",
    "CallRecordStore",
    "Clock",
    "ConfigError",
    "FakeClock",
    "LineLoad",
    "LineStatsStore",
    "LineStatus",
    "MemoryCallRecordStore",
    "MemoryLineStatsStore",
    "MemoryOneTimeTokenStore",
    "MemoryQueueStore",
    "NextOpening",
    "OneTimeTokenStore",
    "OpeningHours",
    "QueueEntry",
    "QueueFullError",
    "QueueStore",
    "ServiceLine",
    "Store",
    "SystemClock",
    "TimeRange",
    "create_memory_store",
    "estimate_wait_seconds",
    "line_status",
]
