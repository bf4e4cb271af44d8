"""Tests of the synth layer."""
