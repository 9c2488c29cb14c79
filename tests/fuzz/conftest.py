"""Fuzz targets: load the Hypothesis profile before the test modules are imported."""

from __future__ import annotations

from tests.fuzz import profiles

profiles.load()
