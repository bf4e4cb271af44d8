"""Text from straps, files and users cannot drive the terminal: control characters in device
names, titles, tags, phase names and file names are shown escaped on every CLI output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from biofeedback.cli import main
from biofeedback.terminal import printable

from ..support.hostile import hostile_store

#: Clipboard write (OSC 52), screen clear, 8-bit CSI, bell, CR overwrite, a forged row.
CONTROL = (
    "\x1b]52;c;aGFja2Vk\x07",
    "\x1b[2J\x1b[H",
    "\x9b2J",
    "\x07bell",
    "\rFAKE",
    "x\n99  2026-01-01 00:00  forged row",
    "sep\u2028arator",
)
KEPT = "שלום 👩‍⚕️ café"  # RTL, an emoji ZWJ sequence and accents pass untouched
_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable("\x1b[2J") == "\\x1b[2J"
    assert printable("\x9b") == "\\x9b"
    assert printable("a\nb\tc") == "a\nb\tc"
    assert printable("a\nb", newlines=False) == "a\\x0ab"
    assert printable(KEPT) == KEPT


def test_cli_output_carries_no_control_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "".join(CONTROL) + KEPT
    db = hostile_store(tmp_path, CONTROL, text)
    capsys.readouterr()
    outputs = []
    for argv in (
        ["sessions"],
        ["compare", "1", "2"],
        ["report", "1", "--format", "kubios", "-o", str(tmp_path / "k.txt")],
    ):
        assert main([*argv, "--db", str(db)]) == 0
        outputs.append(capsys.readouterr())
    assert main(["record", "--replay", str(tmp_path / "c1.jsonl"), "--speed", "0"]) == 0
    outputs.append(capsys.readouterr())
    bad_file = tmp_path / "rr\x1b]52;c;aGk=\x07.txt"
    bad_file.write_text("not an RR file\n")
    assert main(["analyze", str(bad_file)]) == 2
    outputs.append(capsys.readouterr())
    for o in outputs:
        assert _BAD.search(o.out) is None, o.out
        assert _BAD.search(o.err) is None, o.err
    sessions = outputs[0].out.splitlines()
    assert len(sessions) == 3  # header + two sessions: the title's line break forged nothing
    assert KEPT in sessions[1] and "\\x1b]52;c;" in sessions[1]
    assert "\\x1b]52;c;aGk=" in outputs[-1].err  # the file is still named, harmlessly
