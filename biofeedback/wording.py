"""Counted nouns in messages: one plural rule for every output ("1 link gap", "2 link gaps")."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is exactly 1 (``plural`` or ``noun + "s"``)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
