"""Shared fixtures: paths to the repo, its recordings and the optional shared reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

# Fixtures for every test module that asks: fake BlueZ (dbus_daemon, make_bluez, bluez) and
# the PostgreSQL tier (pg_cluster, pg_url, db_target).
pytest_plugins = ["tests.support.bluez_harness", "tests.support.postgres"]

REPO = Path(__file__).resolve().parents[1]
RECORDINGS = REPO / "recordings"
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


def reference_dir(name: str) -> Path:
    """A folder of ../shared/reference, or skip the test when the checkout has none."""
    p = SHARED_REFERENCE / name
    if not p.is_dir():
        pytest.skip(f"reference data {p} not present (only in the development workspace)")
    return p


@pytest.fixture
def recordings_dir() -> Path:
    return RECORDINGS
