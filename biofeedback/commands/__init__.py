"""CLI commands. ``COMMANDS`` maps a command to (module stem, one-line help).

For a stem ``x``, ``biofeedback.commands.x_args`` defines ``add_arguments(parser)`` and must
stay import-light; ``biofeedback.commands.x`` defines ``run(args) -> int``.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "replay a bundled recording as a live strap (and dashboard)"),
    "scan": ("scan", "list nearby heart-rate straps (service 0x180D)"),
    "record": ("record", "stream a strap or a capture replay; record a guided session"),
    "analyze": ("analyze", "HRV analysis of an RR file or capture"),
    "compare": ("compare", "per-phase HRV, differences with confidence intervals, verdict"),
    "import": ("import", "store an RR file (text, CSV, Kubios) or a capture as a session"),
    "sessions": ("sessions", "list stored sessions"),
    "session": ("session", "tag, rename, annotate or delete a stored session"),
    "dashboard": ("dashboard", "serve the dashboard (live view, sessions, comparison, trends)"),
    "report": ("report", "write a session report or export: html, pdf, csv, json, kubios"),
}
