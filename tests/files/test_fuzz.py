"""Fuzz tier: every importer and the capture reader, on arbitrary bytes and on mutated valid
files. Each input gives validated readings or one :class:`UserError` line, never another
exception (issue "Hardening", "Also build")."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biofeedback.errors import UserError
from biofeedback.files import read_readings
from biofeedback.files.validate import validate
from tests.conftest import RECORDINGS
from tests.files.test_importers import _edf_bytes

FUZZ = settings(
    # 30 per format in CI; FUZZ_EXAMPLES=500 for a longer hunt
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize="FUZZ_EXAMPLES" not in os.environ,  # CI: seeded, a failure reproduces
)
START = dt.datetime(2024, 5, 5, 7, 6, 40)
RR = np.round(850 + 40 * np.sin(np.arange(120) / 1.6))


def _stamped(header: str, fmt: Callable[[dt.datetime, float], str]) -> bytes:
    t, rows = START, [header]
    for r in RR:
        t += dt.timedelta(milliseconds=float(r))
        rows.append(fmt(t, r))
    return ("\n".join(rows) + "\n").encode()


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _edf() -> bytes:
    onsets = 1.0 + np.concatenate([[0.0], np.cumsum(RR) / 1000])
    n_rec = int(np.ceil(onsets[-1] + 1))
    per_rec = []
    for r in range(n_rec):
        b = f"+{r:g}\x14\x14\x00".encode()
        for o in onsets[(onsets >= r) & (onsets < r + 1)]:
            b += f"+{o:.4f}\x14R\x14\x00".encode()
        per_rec.append(b)
    ann_len = max(len(b) for b in per_rec) + 1
    ann_len += ann_len % 2
    ann = np.concatenate([np.frombuffer(b.ljust(ann_len, b"\x00"), dtype="<i2") for b in per_rec])
    sig = [("Resp", "a.u.", -1, 1, 4, np.zeros(n_rec * 4, dtype=np.int16)),
           ("EDF Annotations", "", -1, 1, ann_len // 2, ann)]  # fmt: skip
    return _edf_bytes(sig, 1.0, n_rec, plus=True)


def _ecg() -> bytes:
    import neurokit2 as nk

    x = nk.ecg_simulate(duration=60, sampling_rate=130, heart_rate=70, random_state=2)
    t0 = 1_714_920_600_000_000_000
    rows = "".join(f"{t0 + int(i * 1e9 / 130)},{v:.3f}\n" for i, v in enumerate(x))
    return ("time_ns,ecg_mV\n" + rows).encode()


def _lines(rows: object) -> bytes:
    return "".join(f"{r}\n" for r in rows).encode()  # type: ignore[attr-defined]


def _seeds() -> dict[str, bytes]:
    cap = RECORDINGS / "resting-clean.jsonl"
    hrm = "[Params]\nVersion=106\nDate=20240505\nStartTime=07:06:40.0\nInterval=238\n\n[HRData]"
    t_s = np.cumsum(RR) / 1000
    ppi = "Phone timestamp;PP-interval [ms];error estimate [ms];blocker;contact;contact supported"
    kubios = "Kubios HRV\nRR INTERVAL DATA,\n , Time, RR interval,\n , (s), (s)"
    return {
        "rr.txt": _lines(int(v) for v in RR),
        "rr.csv": _lines(["time,rr", *(f"{i},{int(v)}" for i, v in enumerate(RR))]),
        "kubios.txt": _lines(
            [kubios, *(f" , {t:.3f}, {v / 1000:.3f}," for t, v in zip(t_s, RR, strict=True))]
        ),
        "x_RR.txt": _stamped("Phone timestamp;RR-interval [ms]", lambda t, r: f"{_iso(t)};{r:.0f}"),
        "x_PPI.txt": _stamped(ppi, lambda t, r: f"{_iso(t)};{int(r)};5;0;1;1"),
        "flow.txt": _lines(f"{t:.3f}\t{int(v)}" for t, v in zip(t_s, RR, strict=True)),
        "x.hrm": _lines([hrm, *(int(v) for v in RR)]),
        "2024-05-05 07-06-40.txt": _lines(int(v) for v in RR),
        "log_RR_1.csv": _stamped("date,rr", lambda t, r: f"{t:%Y-%m-%d %H:%M:%S.%f},{int(r)}"),
        "ecg.csv": _ecg(),
        "beats.edf": _edf(),
        "cap.jsonl": b"".join(cap.read_bytes().splitlines(keepends=True)[:80]),
    }


SEEDS = _seeds()


def _check(name: str, data: bytes, extra: dict[str, bytes] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / name
        p.write_bytes(data)
        for n, b in (extra or {}).items():
            (Path(tmp) / n).write_bytes(b)
        try:
            with warnings.catch_warnings():
                # third-party detectors warn on garbage; the property is about exceptions
                warnings.simplefilter("ignore")
                got = read_readings(p)
        except UserError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg and "Traceback" not in msg
            return
        for r in got:  # what is accepted is storable: the validation holds on it
            validate(r)
            assert np.all(np.isfinite(r.series.t_s))


#: Fragments that break parsers: NUL, signs, huge/NaN numbers, far years, separators, BOM,
#: deep nesting.
INSERTS = [b"\x00", b"-", b"1e308", b"nan", b"9999", b";", b",", b"\n", b"\t", b"[" * 50,
           b"\xef\xbb\xbf", b"0"]  # fmt: skip


def _mutate(data: bytes, draw: st.DrawFn) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup"]))
        if not b:
            break
        i = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del b[i : i + draw(st.integers(1, 64))]
        elif op == "insert":
            b[i:i] = draw(st.sampled_from(INSERTS))
        elif op == "truncate":
            del b[i:]
        else:
            j = draw(st.integers(i, min(len(b), i + 200)))
            b[j:j] = b[i:j]
    return bytes(b)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_files_are_valid(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / name
        p.write_bytes(SEEDS[name])
        assert read_readings(p)[0].n_beats > 50


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_mutated_valid_files_parse_or_give_one_line(name: str, data: st.DataObject) -> None:
    _check(name, _mutate(SEEDS[name], data.draw))


@pytest.mark.parametrize(
    "name", ["rr.txt", "x_RR.txt", "x.hrm", "beats.edf", "cap.jsonl", "ecg.csv", "r.hea", "x.zip"]
)
@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_parse_or_give_one_line(name: str, raw: bytes) -> None:
    _check(name, raw)


@FUZZ
@given(data=st.data())
def test_mutated_zip_exports_parse_or_give_one_line(data: st.DataObject) -> None:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("2024-05-05 07-06-40.txt", SEEDS["rr.txt"])
        z.writestr("2024-05-05 08-00-00.txt", SEEDS["rr.txt"])
    _check("export.zip", _mutate(buf.getvalue(), data.draw))


@FUZZ
@given(data=st.data())
def test_mutated_wfdb_records_parse_or_give_one_line(data: st.DataObject) -> None:
    import wfdb

    with tempfile.TemporaryDirectory() as tmp:
        samples = (250 + np.cumsum(RR * 0.36)).astype(np.int64)
        wfdb.wrann("r", "atr", sample=samples, symbol=["N"] * len(samples), fs=360, write_dir=tmp)
        atr = (Path(tmp) / "r.atr").read_bytes()
    hea = b"r 1 360 60000\nr.dat 16 200 16 0 0 0 0 ECG\n"
    which = data.draw(st.sampled_from(["hea", "atr"]))
    if which == "hea":
        _check("r.hea", _mutate(hea, data.draw), {"r.atr": atr})
    else:
        _check("r.atr", _mutate(atr, data.draw), {"r.hea": hea})
