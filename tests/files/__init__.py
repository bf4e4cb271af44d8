"""Tests of the files layer."""
