"""Tests of the dashboards layer."""
