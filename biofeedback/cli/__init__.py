"""Command-line entry point: ``biofeedback <command> ...``.

The CLI is the one composition root: it builds sources, stores and apps and wires them
together. Each command is one module ``biofeedback.cli.<stem>`` with ``add_arguments(parser)``
and ``run(args) -> int``. Every command module is imported to build the parser, so a command
module imports only the standard library and light project modules at its top; the heavy
ones (numpy, pandas, dash, bleak) are imported inside ``run`` and the functions it calls, which
keeps ``--help`` fast.

Exit codes: 0 ok, 2 bad input (one-line message naming the file and problem), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from biofeedback import __version__
from biofeedback.errors import UserError
from devices.capture import CaptureError
from devices.supervisor import LinkUnavailableError

#: Errors that mean "bad input or environment", not a bug: one line on stderr, exit 2.
#: ``devices`` cannot import ``biofeedback.errors`` (dependency direction), so its own
#: error types are mapped here, in the composition root.
USER_ERRORS: tuple[type[Exception], ...] = (UserError, CaptureError, LinkUnavailableError)

#: command -> (module stem in ``biofeedback.cli``, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "replay a bundled recording as a live strap (and dashboard)"),
    "scan": ("scan", "list nearby heart-rate straps (service 0x180D)"),
    "record": ("record", "stream a strap or a capture replay; record a guided session"),
    "analyze": ("analyze", "HRV analysis of an RR file or capture"),
    "compare": ("compare", "per-phase HRV, differences with confidence intervals, verdict"),
    "import": ("import_", "store an RR file (text, CSV, Kubios) or a capture as a session"),
    "sessions": ("sessions", "list stored sessions"),
    "session": ("session", "tag, rename, annotate or delete a stored session"),
    "dashboard": ("dashboard", "serve the dashboard (live view, sessions, comparison, trends)"),
    "report": ("report", "write a session report or export: html, pdf, csv, json, kubios"),
    "export": ("export", "write a study's tidy tables (CSV, Parquet) and data dictionary"),
    "sync": ("sync", "push local sessions a server (or another store) lacks, by uuid"),
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="biofeedback",
        description="Local-first HRV biofeedback: BLE chest straps, live HRV, sessions, reports.",
    )
    parser.add_argument("--version", action="version", version=f"biofeedback {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(f"biofeedback.cli.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Everything written to stdout/stderr, logging included, has its control characters
    escaped (:mod:`biofeedback.terminal`): device names, titles and file contents are text.
    """
    from biofeedback.terminal import safe_std_streams

    with safe_std_streams():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.command:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    try:
        mod = importlib.import_module(f"biofeedback.cli.{module}")
        rc: int = mod.run(args)
    except USER_ERRORS as exc:
        print(f"biofeedback {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"biofeedback {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return rc


def entry() -> None:  # pragma: no cover - thin wrapper for python -m
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
