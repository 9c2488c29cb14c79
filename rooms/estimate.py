"""Wait estimates: one function, from the professionals available and recent answers.

Two views of how fast a line's queue moves are combined:

- the *capacity model*: each available professional takes a caller every
  ``handle_seconds`` (the line's mean talk time plus the wrap-up), so the queue moves one
  place every ``handle_seconds / staff_available``;
- the *observed pace*: the gaps between recent answers on the line while callers were
  waiting (the next caller was already queued when the previous one was answered), each
  multiplied by the professionals available then, giving professional-seconds per caller;
  divided by the professionals available now.

The more such gaps there are (up to ``FULL_WEIGHT_GAPS``), the more the observed pace
counts. Gaps while the queue was empty say nothing of the pace and are skipped.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

__all__ = [
    "EWMA_ALPHA",
    "FULL_WEIGHT_GAPS",
    "RECENT_ANSWERS",
    "RECENT_WINDOW",
    "AnswerSample",
    "LineLoad",
    "LineStatsStore",
    "MemoryLineStatsStore",
    "estimate_wait_seconds",
    "seconds_per_caller",
]

EWMA_ALPHA = 0.2
RECENT_ANSWERS = 20  # answers kept per line
RECENT_WINDOW = timedelta(minutes=30)  # answers older than this are not "recent"
FULL_WEIGHT_GAPS = 5  # with this many busy gaps the observed pace alone decides


@dataclass(frozen=True)
class AnswerSample:
    """One answered caller: when they queued, when answered, professionals available then."""

    answered_at: datetime
    enqueued_at: datetime
    staff_available: int


class LineStatsStore(Protocol):
    """Per-line statistics for estimates (times and counts only, nobody's identity)."""

    async def record_talk_time(self, line_id: str, seconds: float) -> None:
        """Fold one answered call's talk time into the line's mean."""
        ...

    async def mean_talk_time(self, line_id: str) -> float | None:
        """Exponentially weighted mean talk time (alpha 0.2); None before any call."""
        ...

    async def record_answer(self, line_id: str, sample: AnswerSample) -> None:
        """Remember an answer; only the latest RECENT_ANSWERS per line are kept."""
        ...

    async def recent_answers(self, line_id: str, since: datetime) -> list[AnswerSample]:
        """The kept answers answered at or after `since`, oldest first."""
        ...


@dataclass
class MemoryLineStatsStore:
    """In-process LineStatsStore. The first talk-time sample sets the mean."""

    alpha: float = EWMA_ALPHA
    keep: int = RECENT_ANSWERS
    _means: dict[str, float] = field(default_factory=dict)
    _answers: defaultdict[str, deque[AnswerSample]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if self.keep < 1:
            raise ValueError("keep must be >= 1")

    async def record_talk_time(self, line_id: str, seconds: float) -> None:
        """mean <- alpha * seconds + (1 - alpha) * mean."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"talk time must be a finite number >= 0, got {seconds!r}")
        old = self._means.get(line_id)
        self._means[line_id] = (
            seconds if old is None else self.alpha * seconds + (1 - self.alpha) * old
        )

    async def mean_talk_time(self, line_id: str) -> float | None:
        """The line's current mean talk time, or None before any call."""
        return self._means.get(line_id)

    async def record_answer(self, line_id: str, sample: AnswerSample) -> None:
        answers = self._answers[line_id]
        answers.append(sample)
        while len(answers) > self.keep:
            answers.popleft()

    async def recent_answers(self, line_id: str, since: datetime) -> list[AnswerSample]:
        answers = self._answers.get(line_id, ())
        return sorted((a for a in answers if a.answered_at >= since), key=_answered_at)


def _answered_at(sample: AnswerSample) -> datetime:
    return sample.answered_at


@dataclass(frozen=True)
class LineLoad:
    """What the estimate of one line rests on, at one moment."""

    staff_available: int
    handle_seconds: float  # mean talk time (or the line's default) plus wrap-up
    recent: Sequence[AnswerSample] = ()

    def __post_init__(self) -> None:
        if not math.isfinite(self.handle_seconds) or self.handle_seconds < 0:
            raise ValueError(f"handle_seconds must be finite and >= 0, got {self.handle_seconds!r}")


def busy_gaps(recent: Sequence[AnswerSample]) -> list[float]:
    """Professional-seconds per caller from consecutive answers while callers waited."""
    ordered = sorted(recent, key=_answered_at)
    gaps: list[float] = []
    for earlier, later in itertools.pairwise(ordered):
        if later.enqueued_at > earlier.answered_at:
            continue  # the queue ran empty in between: the gap is about arrivals
        gap = (later.answered_at - earlier.answered_at).total_seconds()
        gaps.append(gap * max(1, later.staff_available))
    return gaps


def seconds_per_caller(load: LineLoad) -> float:
    """How many seconds the queue takes to move one place, with today's professionals."""
    staff = max(1, load.staff_available)  # nobody available: computed as if one were
    model = load.handle_seconds / staff
    gaps = busy_gaps(load.recent)
    if not gaps:
        return model
    observed = sum(gaps) / len(gaps) / staff
    weight = min(len(gaps), FULL_WEIGHT_GAPS) / FULL_WEIGHT_GAPS
    return weight * observed + (1 - weight) * model


def estimate_wait_seconds(position: int, load: LineLoad) -> int:
    """Expected wait of the caller at `position` (1 = next), rounded up to whole minutes.

    position * seconds_per_caller(load); 0 when position <= 0. This is the only estimate
    the gateway gives: line status, queue.join, queue.update and resume all use it.
    """
    if position <= 0:
        return 0
    seconds = position * seconds_per_caller(load)
    # Round away float noise (e.g. 360.0000000001) before rounding up to minutes.
    return math.ceil(round(seconds, 6) / 60) * 60
