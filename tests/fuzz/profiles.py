"""Hypothesis settings for the fuzz targets: ``ci`` (the default) and ``long``.

``ci`` keeps every target together to well under a minute, so the fuzzers run with the
normal test suite; ``long`` is for a dedicated run (``HYPOTHESIS_PROFILE=long``, see
docs/testing.md). No example database is written: a failure prints the falsifying example
and a ``@reproduce_failure`` blob, which is what goes into a regression test.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Final

from hypothesis import HealthCheck, settings

CI: Final = "ci"
LONG: Final = "long"


def _register(name: str, max_examples: int, deadline: timedelta) -> None:
    settings.register_profile(
        name,
        max_examples=max_examples,
        deadline=deadline,
        database=None,
        print_blob=True,
        # Large and deeply nested inputs are the point here, not a mistake in a strategy.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


_register(CI, 500, timedelta(seconds=5))  # roomy: CI machines are shared
_register(LONG, 20_000, timedelta(seconds=5))


def load() -> None:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", CI))


def examples(fraction: float) -> int:
    """A share of the profile's examples, for targets that cost more per example."""
    current = settings.default
    assert current is not None
    return max(10, int(current.max_examples * fraction))
