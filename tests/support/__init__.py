"""Test support: fake BlueZ, capture factories."""
