"""The store contract suite runs against every backend in ``BACKENDS`` (one fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from rooms.clock import FakeClock
from rooms.store import Store
from tests.support.stores import BACKENDS

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Store]:
    made = BACKENDS[request.param](clock)
    try:
        yield made
    finally:
        await made.close()
