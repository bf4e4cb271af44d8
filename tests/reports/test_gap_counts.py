"""Every output counts the gaps of a session the same way, in the same words.

The bundled self-compassion-break capture has one link loss (455-462 s) and two other breaks
of the beat series without any link gap: a frame whose RR part is malformed (95.5 s) and a
contact loss (262.6-266.5 s). The record summary said ``1 gaps``, the HTML report ``1 link
gap(s)`` and the Kubios export warned of ``3 gap(s) joined``: the other breaks were called
gaps there and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from biofeedback.cli import main
from tests.conftest import RECORDINGS

SCB = RECORDINGS / "self-compassion-break.jsonl"


def test_record_html_and_kubios_agree_on_one_link_gap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "s.db")
    argv = ["record", "--replay", str(SCB), "--speed", "0", "--quiet"]
    assert main([*argv, "--protocol", "self-compassion-break", "--db", db]) == 0
    summary = next(v for v in capsys.readouterr().out.splitlines() if v.startswith("summary:"))
    assert ", 1 link gap, " in summary and ", 1 malformed RR part, " in summary

    html = tmp_path / "r.html"
    assert main(["report", "1", "--format", "html", "-o", str(html), "--db", db]) == 0
    text = html.read_text(encoding="utf-8")
    assert "1 link gap (" in text and "gap(s)" not in text

    capsys.readouterr()
    kubios = tmp_path / "r.txt"
    assert main(["report", "1", "--format", "kubios", "-o", str(kubios), "--db", db]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    joined = [v for v in err if "joins" in v]
    assert joined == [
        "warning: the Kubios file joins 3 breaks in session 1's beats (1 link gap, 2 other "
        "breaks: lost contact or a dropped RR); the format has no time column"
    ]
