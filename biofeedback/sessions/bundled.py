"""The captures that ship with the package: ``recordings/`` is the package
``biofeedback.recordings`` (see pyproject.toml), so there is one copy of each file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The recording ``biofeedback demo`` replays and the dashboard offers as a live source.
DEMO_RECORDING_NAME = "self-compassion-break"


def bundled_recording(name: str = DEMO_RECORDING_NAME) -> Path:
    """Path of the bundled capture ``<name>.jsonl`` (works from an installed wheel)."""
    return Path(str(resources.files("biofeedback.recordings") / f"{name}.jsonl"))


def bundled_recordings() -> dict[str, Path]:
    """The bundled captures offered as live replay sources, by name."""
    return {DEMO_RECORDING_NAME: bundled_recording()}
