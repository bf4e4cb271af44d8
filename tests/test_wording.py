"""The one plural rule of every count printed to the user."""

from __future__ import annotations

import pytest

from biofeedback.wording import count


@pytest.mark.parametrize(
    ("n", "noun", "plural", "text"),
    [
        (0, "link gap", None, "0 link gaps"),
        (1, "link gap", None, "1 link gap"),
        (2, "link gap", None, "2 link gaps"),
        (1, "malformed RR part", None, "1 malformed RR part"),
        (3, "beat", None, "3 beats"),
        (1, "no-contact frame", None, "1 no-contact frame"),
        (2, "analysis", "analyses", "2 analyses"),
        (-1, "beat", None, "-1 beats"),
    ],
)
def test_count(n: int, noun: str, plural: str | None, text: str) -> None:
    assert count(n, noun, plural) == text
