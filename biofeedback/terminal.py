"""Terminal output that text from straps, files and users cannot take over.

Device names, titles, notes, tags, phase names and file names reach the terminal through
``sessions``, ``compare``, ``record``, ``scan``, ``import`` and error messages. A control
character in them is an instruction to the terminal: ESC/CSI sequences clear the screen or
rewrite earlier lines, OSC 52 writes the clipboard, CR overwrites the current line. One
function, :func:`printable`, shows each control character as its escape (``\\x1b``) instead;
:func:`safe_std_streams` applies it to everything the CLI writes to stdout and stderr, so no
output path can forget it. Table cells also pass ``newlines=False`` so a title cannot forge
table rows.

Kept: printable text in any script (RTL, emoji and their zero-width joiners), tab and, by
default, line feed. Replaced: C0 controls, DEL, C1 controls (U+0080-U+009F, e.g. the 8-bit
CSI U+009B) and the line/paragraph separators U+2028/U+2029.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["SafeTextStream", "printable", "raw_stream", "safe_std_streams"]

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_OR_NL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: object, *, newlines: bool = True) -> str:
    """``text`` with every terminal control character shown as its escape (``\\x1b``).

    With ``newlines=False`` a line feed is escaped too (one table cell, one line).
    """
    return (_CONTROL if newlines else _CONTROL_OR_NL).sub(_escape, str(text))


class SafeTextStream:
    """A text stream proxy whose ``write`` passes everything through :func:`printable`."""

    def __init__(self, stream: TextIO) -> None:
        self.raw = stream

    def write(self, s: str) -> int:
        self.raw.write(printable(s))
        return len(s)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, ...
        return getattr(self.raw, name)


def raw_stream(stream: TextIO | SafeTextStream) -> TextIO:
    """The stream under a :class:`SafeTextStream`, for output the program itself controls
    (a progress bar redrawn with CR)."""
    return stream.raw if isinstance(stream, SafeTextStream) else stream


@contextmanager
def safe_std_streams() -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` escape control characters."""
    old = sys.stdout, sys.stderr
    sys.stdout = SafeTextStream(old[0])
    sys.stderr = SafeTextStream(old[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old
