"""Tests of the devices layer."""
