"""Tests of the hrv layer."""
