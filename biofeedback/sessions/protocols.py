"""Guided-session protocols: data (TOML), not code.

A protocol file looks like::

    name = "self-compassion-break"          # optional, defaults to the file stem
    title = "Self-compassion break"
    description = "Kristin Neff's three steps, framed by a baseline and a recovery."

    [[phases]]
    name = "baseline"
    kind = "baseline"                        # baseline | practice | recovery
    duration_s = 180
    prompts = [{ at_s = 0, text = "Sit comfortably and breathe normally." }]

    [[phases]]
    name = "breathing"
    kind = "practice"
    duration_s = 600
    pacer = { breaths_per_min = 6.0, inhale_ratio = 0.4 }

Phase names are unique within a protocol (markers in the store refer to them); prompt times
``at_s`` are seconds from the start of their phase, within the phase. A protocol with no
phases (``free``) runs until stopped and only carries manual markers.

Protocols are looked up, lowest priority first, in the bundled ``biofeedback/sessions/protocols/``
folder, the user's config folder (``platformdirs.user_config_dir("biofeedback")/protocols``)
and any ``--protocols-dir``; a later folder overrides an earlier one with the same name.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeGuard

from biofeedback.errors import UserError

__all__ = [
    "BUILTIN_DIR",
    "Pacer",
    "Phase",
    "PhaseKind",
    "Prompt",
    "Protocol",
    "ProtocolError",
    "ProtocolScan",
    "list_protocols",
    "load_protocol",
    "parse_protocol",
    "protocol_search_dirs",
    "scan_protocols",
    "user_protocols_dir",
]

BUILTIN_DIR = Path(__file__).with_name("protocols")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Shortest phase, seconds: 10 s is the shortest recording from which RMSSD agrees with the
#: 5-min value (Munoz et al. 2015, PLoS One 10:e0138921); a shorter phase holds too few beats
#: for any of its metrics.
MIN_PHASE_S = 10.0
#: Longest protocol (all phases), seconds: 24 h, the long-term (Holter) HRV recording of the
#: Task Force (1996, Circulation 93:1043). Also keeps every time sum finite.
MAX_PROTOCOL_S = 86_400.0


class ProtocolError(UserError):
    """A protocol file is unreadable or malformed; ``str()`` names the file and the field."""


class PhaseKind(StrEnum):
    """What a phase is for; comparisons are made between baseline and the others."""

    BASELINE = "baseline"
    PRACTICE = "practice"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class Prompt:
    """Text shown ``at_s`` seconds after its phase starts."""

    at_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Pacer:
    """Breathing pacer: ``breaths_per_min`` breaths, inhaling for ``inhale_ratio`` of each."""

    breaths_per_min: float
    inhale_ratio: float = 0.4

    @property
    def period_s(self) -> float:
        """Length of one breath, seconds."""
        return 60.0 / self.breaths_per_min


@dataclass(frozen=True, slots=True)
class Phase:
    """One step of a protocol, ``duration_s`` seconds long."""

    name: str
    kind: PhaseKind
    duration_s: float
    prompts: tuple[Prompt, ...] = ()
    pacer: Pacer | None = None

    def prompt_at(self, offset_s: float) -> Prompt | None:
        """The latest prompt due ``offset_s`` seconds into the phase (``None`` before any)."""
        current: Prompt | None = None
        for p in self.prompts:
            if p.at_s <= offset_s + 1e-9:
                current = p
        return current


@dataclass(frozen=True, slots=True)
class Protocol:
    """A guided session: an ordered list of phases (empty for ``free``)."""

    name: str
    title: str
    description: str
    phases: tuple[Phase, ...]
    source: str = "builtin"

    @property
    def total_s(self) -> float:
        """Sum of the phase durations, seconds (0 for a free session)."""
        return math.fsum(p.duration_s for p in self.phases)

    def timeline(self) -> list[tuple[float, float, Phase]]:
        """``(start_s, end_s, phase)`` for every phase, from 0 (the protocol start)."""
        out: list[tuple[float, float, Phase]] = []
        t = 0.0
        for ph in self.phases:
            out.append((t, t + ph.duration_s, ph))
            t += ph.duration_s
        return out

    def with_breaths_per_min(self, breaths_per_min: float) -> Protocol:
        """A copy whose paced phases breathe at ``breaths_per_min`` (``--breaths-per-min``)."""
        if not (isinstance(breaths_per_min, int | float) and 0 < breaths_per_min <= 60):
            raise ProtocolError(
                f"--breaths-per-min: expected a number in (0, 60], got {breaths_per_min}"
            )
        phases = tuple(
            replace(p, pacer=replace(p.pacer, breaths_per_min=float(breaths_per_min)))
            if p.pacer is not None
            else p
            for p in self.phases
        )
        return replace(self, phases=phases)


# ----------------------------------------------------------------------------- parsing


def _number(v: Any) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _text(d: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or (default is None and not v.strip()):
        raise ProtocolError(f"{where}{key}: expected a non-empty string")
    return v


def _parse_prompt(obj: Any, where: str, duration_s: float) -> Prompt:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where}: expected a table {{at_s = ..., text = ...}}")
    at = obj.get("at_s", 0.0)
    if not _number(at) or at < 0:
        raise ProtocolError(f"{where}.at_s: expected a number of seconds >= 0")
    if at > duration_s:
        raise ProtocolError(
            f"{where}.at_s: {at} s is after the end of its phase ({duration_s:g} s)"
        )
    return Prompt(at_s=float(at), text=_text(obj, "text", f"{where}."))


def _parse_pacer(obj: Any, where: str) -> Pacer:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where}: expected a table {{breaths_per_min = ...}}")
    bpm = obj.get("breaths_per_min")
    if not _number(bpm) or not 0 < bpm <= 60:
        raise ProtocolError(f"{where}.breaths_per_min: expected a number in (0, 60]")
    ratio = obj.get("inhale_ratio", 0.4)
    if not _number(ratio) or not 0 < ratio < 1:
        raise ProtocolError(f"{where}.inhale_ratio: expected a number in (0, 1)")
    return Pacer(breaths_per_min=float(bpm), inhale_ratio=float(ratio))


def _parse_phase(obj: Any, where: str) -> Phase:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where}: expected a table ([[phases]])")
    name = _text(obj, "name", f"{where}.")
    kind_raw = obj.get("kind")
    try:
        kind = PhaseKind(str(kind_raw))
    except ValueError:
        raise ProtocolError(
            f"{where}.kind: expected one of baseline, practice, recovery, got {kind_raw!r}"
        ) from None
    dur = obj.get("duration_s")
    if not _number(dur) or dur <= 0:
        raise ProtocolError(f"{where}.duration_s: expected a positive number")
    if not MIN_PHASE_S <= dur <= MAX_PROTOCOL_S:
        raise ProtocolError(
            f"{where}.duration_s: expected a number of seconds in "
            f"[{MIN_PHASE_S:g}, {MAX_PROTOCOL_S:g}], got {dur:g}"
        )
    prompts_raw = obj.get("prompts", [])
    if not isinstance(prompts_raw, list):
        raise ProtocolError(f"{where}.prompts: expected a list of {{at_s, text}} tables")
    prompts = tuple(
        sorted(
            (
                _parse_prompt(p, f"{where}.prompts[{i}]", float(dur))
                for i, p in enumerate(prompts_raw)
            ),
            key=lambda p: p.at_s,
        )
    )
    pacer = _parse_pacer(obj["pacer"], f"{where}.pacer") if "pacer" in obj else None
    return Phase(name=name, kind=kind, duration_s=float(dur), prompts=prompts, pacer=pacer)


def parse_protocol(data: Mapping[str, Any], where: str, *, default_name: str = "") -> Protocol:
    """Validate a decoded TOML table; errors read ``{where}: field: problem``.

    Parameters
    ----------
    data
        The decoded TOML document.
    where
        Prefix for error messages, normally the file name.
    default_name
        Name used when the document has no ``name`` (the file stem).
    """
    w = f"{where}: "
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ProtocolError(f"{w}name: expected letters, digits, '-', '_' or '.', got {name!r}")
    title = _text(data, "title", w, default=name) or name
    description = _text(data, "description", w, default="")
    phases_raw = data.get("phases", [])
    if not isinstance(phases_raw, list):
        raise ProtocolError(f"{w}phases: expected an array of tables ([[phases]])")
    phases = tuple(_parse_phase(p, f"{w}phases[{i}]") for i, p in enumerate(phases_raw))
    total_s = math.fsum(ph.duration_s for ph in phases)  # each <= MAX_PROTOCOL_S: finite
    if total_s > MAX_PROTOCOL_S:
        raise ProtocolError(
            f"{w}phases: the phases last {total_s:g} s in all; at most {MAX_PROTOCOL_S:g} s (24 h)"
        )
    seen: set[str] = set()
    for i, ph in enumerate(phases):
        if ph.name in seen:
            raise ProtocolError(f"{w}phases[{i}].name: duplicate phase name {ph.name!r}")
        seen.add(ph.name)
    return Protocol(name=name, title=title, description=description, phases=phases, source=where)


def _read_file(path: Path) -> Protocol:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProtocolError(f"{path}: no such protocol file") from None
    except OSError as exc:
        raise ProtocolError(f"{path}: cannot read protocol ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError(f"{path}: not a text file (invalid UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        msg = f"{path}: not a protocol (arrays or tables nested too deeply)"
        raise ProtocolError(msg) from None
    proto = parse_protocol(data, str(path), default_name=path.stem)
    return replace(proto, source="builtin" if path.parent == BUILTIN_DIR else str(path))


# ----------------------------------------------------------------------------- lookup


def user_protocols_dir() -> Path:
    """``<user config dir>/protocols`` (e.g. ``~/.config/biofeedback/protocols`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("biofeedback")) / "protocols"


def protocol_search_dirs(
    extra_dirs: Iterable[str | Path] = (), *, user_dir: str | Path | None = None
) -> list[Path]:
    """Folders searched for protocols, lowest priority first.

    ``user_dir`` replaces the platform config folder (tests pass a temporary one).
    """
    dirs = [BUILTIN_DIR, Path(user_dir) if user_dir is not None else user_protocols_dir()]
    dirs.extend(Path(d) for d in extra_dirs)
    return dirs


def _files(dirs: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        if d.is_dir():
            out.extend(sorted(d.glob("*.toml")))
    return out


@dataclass(frozen=True, slots=True)
class ProtocolScan:
    """What the search folders hold: the good protocols (sorted by name) and one error per
    malformed file (in search order), so one bad file hides neither the others nor itself."""

    protocols: tuple[Protocol, ...]
    errors: tuple[ProtocolError, ...]


def scan_protocols(
    extra_dirs: Iterable[str | Path] = (), *, user_dir: str | Path | None = None
) -> ProtocolScan:
    """Read every protocol file of the search folders; a later folder overrides an earlier
    one with the same name."""
    by_name: dict[str, Protocol] = {}
    errors: list[ProtocolError] = []
    for f in _files(protocol_search_dirs(extra_dirs, user_dir=user_dir)):
        try:
            p = _read_file(f)
        except ProtocolError as exc:
            errors.append(exc)
            continue
        by_name[p.name] = p
    return ProtocolScan(tuple(by_name[k] for k in sorted(by_name)), tuple(errors))


def list_protocols(
    extra_dirs: Iterable[str | Path] = (), *, user_dir: str | Path | None = None
) -> list[Protocol]:
    """Every good protocol found, sorted by name (malformed files: `scan_protocols`)."""
    return list(scan_protocols(extra_dirs, user_dir=user_dir).protocols)


def load_protocol(
    name_or_path: str | Path,
    extra_dirs: Iterable[str | Path] = (),
    *,
    user_dir: str | Path | None = None,
) -> Protocol:
    """Load a protocol by name (``self-compassion-break``) or from a ``.toml`` path.

    A name is looked up as ``<name>.toml`` in the search folders (highest priority first),
    then by the ``name`` field of every file there.

    Raises
    ------
    ProtocolError
        Unknown name (the message lists the known ones), unreadable or malformed file.
    """
    s = str(name_or_path)
    p = Path(s)
    if s.endswith(".toml") or "/" in s or "\\" in s:
        return _read_file(p)
    dirs = protocol_search_dirs(extra_dirs, user_dir=user_dir)
    for d in reversed(dirs):
        f = d / f"{s}.toml"
        if f.is_file():
            return _read_file(f)
    known = list_protocols(extra_dirs, user_dir=user_dir)
    for proto in known:
        if proto.name == s:
            return proto
    names = ", ".join(k.name for k in known)
    raise ProtocolError(f"unknown protocol {s!r}; known protocols: {names}")
