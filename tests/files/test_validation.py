"""One validation for ``import`` and ``analyze``; a hostile file never poisons the store.

Each hostile file below was imported with exit 0 before (and then broke ``sessions`` and
every dashboard page for every session: ``OverflowError: timestamp out of range``), while
``analyze`` refused it. Now both refuse it with the same one-line message, and every other
session of the store stays readable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from biofeedback.cli import main

START = dt.datetime(2024, 5, 5, 14, 50, 0)


def _rr(n: int = 300, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(850 + 40 * np.sin(np.arange(n) / 1.6) + rng.normal(0, 12, n))


def _sensor_logger(path: Path, rr: np.ndarray, stamp: Callable[[int, dt.datetime], str]) -> Path:
    t = START
    rows = ["Phone timestamp;RR-interval [ms]"]
    for i, r in enumerate(rr):
        t += dt.timedelta(milliseconds=float(r))
        rows.append(f"{stamp(i, t)};{int(r)}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _iso(_i: int, t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _flow(path: Path, rr: np.ndarray, elapsed: Callable[[int, float], str]) -> Path:
    el = np.cumsum(rr) / 1000
    path.write_text(
        "".join(f"{elapsed(i, e)}\t{int(r)}\n" for i, (e, r) in enumerate(zip(el, rr, strict=True)))
    )
    return path


def _hostile(tmp: Path) -> dict[str, tuple[Path, str]]:
    rr = _rr()
    return {
        "flow-1e308": (
            _flow(tmp / "flow.txt", rr, lambda i, e: "1e308" if i == 150 else f"{e:.3f}"),
            r"elapsed time \(column 1\) 1e\+308 s \(value 151\) is not a time within 31 days",
        ),
        "logger-9999": (
            _sensor_logger(tmp / "y9999_RR.txt", rr,
                           lambda i, t: "9999-05-05T14:52:00.000" if i == 150 else _iso(i, t)),
            r":152: column 'Phone timestamp': date 9999-05-05T14:52:00 is not a plausible",
        ),
        "logger-0001": (
            _sensor_logger(tmp / "y0001_RR.txt", rr,
                           lambda i, t: "0001-01-01T00:00:00.000" if i == 0 else _iso(i, t)),
            r":2: column 'Phone timestamp': date 0001-01-01T00:00:00 is not a plausible",
        ),
        "rr-1e308": (
            tmp.joinpath("huge.txt"),
            r"",  # kept as one out-of-range artefact: imports (see below)
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["flow-1e308", "logger-9999", "logger-0001"])
def test_import_and_analyze_refuse_the_same_file_with_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, msg = _hostile(tmp_path)[name]
    db = tmp_path / "s.db"
    assert main(["import", str(path), "--db", str(db)]) == 2
    err_import = capsys.readouterr().err.strip()
    assert main(["analyze", str(path)]) == 2
    err_analyze = capsys.readouterr().err.strip()
    for err in (err_import, err_analyze):
        assert "\n" not in err and str(path) in err
        assert re.search(msg, err), err
    assert err_import.split(": error: ", 1)[1] == err_analyze.split(": error: ", 1)[1]


def test_store_poisoning_each_hostile_import_leaves_every_other_session_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _sensor_logger(tmp_path / "good_RR.txt", _rr(seed=3), _iso)
    db = tmp_path / "s.db"
    assert main(["import", str(good), "--db", str(db)]) == 0
    hostile = _hostile(tmp_path)
    rr = _rr(seed=5)
    rr[100] = 1e308  # one impossible RR: an out-of-range artefact, stored raw
    hostile["rr-1e308"][0].write_text("\n".join(f"{v:g}" for v in rr) + "\n")
    for name, (path, _) in hostile.items():
        code = main(["import", str(path), "--db", str(db)])
        err = capsys.readouterr().err
        if name == "rr-1e308":
            assert code == 0 and "warning: 1 of 300 RR values outside 200-3000 ms" in err
        else:
            assert code == 2 and err.count("\n") == 1
        assert main(["sessions", "--db", str(db)]) == 0
        listing = capsys.readouterr().out
        assert "good_RR.txt" in listing
        assert main(["compare", "1", "--db", str(db), "--json"]) == 0
        out = tmp_path / "r.json"
        assert (
            main(["report", "1", "--format", "json", "-o", str(out), "--force", "--db", str(db)])
            == 0
        )
    # The one stored hostile session (the 1e308 RR) is itself readable by every view.
    capsys.readouterr()
    assert main(["compare", "2", "--db", str(db), "--json"]) == 0
    assert (
        main(["report", "2", "--format", "html", "-o", str(tmp_path / "r2.html"), "--db", str(db)])
        == 0
    )


def test_impossible_values_in_a_valid_file_are_artefacts_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = _rr(400)
    rr[[50, 200, 300]] = [0.0, -120.0, 90_000.0]
    f = tmp_path / "rr.txt"
    f.write_text("\n".join(f"{v:g}" for v in rr) + "\n")
    assert main(["analyze", str(f)]) == 0
    out = capsys.readouterr().out
    assert (
        "warning: 3 of 400 RR values outside 200-3000 ms, 3 impossible (<= 0 or > 60 s) "
        "(first 0 ms, line 51): kept as out-of-range artefacts" in out
    )
    assert "out_of_range 3" in out
    # a file that is mostly invalid is still refused
    f.write_text("800\n0\n-5\n810\n90000\n")
    assert main(["analyze", str(f)]) == 2
    assert ":2: RR 0 ms is not a positive number, and so are 2 more of 5" in capsys.readouterr().err
