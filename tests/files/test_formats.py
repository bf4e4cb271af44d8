"""Issue 10 item 4 formats, each on a file written from the format's public documentation."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest

from biofeedback.cli import main
from biofeedback.errors import UserError
from biofeedback.files import detect_format, read_readings, read_with_meta
from biofeedback.files.model import STRAP_RESOLUTION_MS
from tests.conftest import RECORDINGS, reference_dir

START = dt.datetime(2024, 5, 5, 7, 6, 40)


def _rr(n: int = 300, seed: int = 21) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(900 + 50 * np.sin(np.arange(n) / 1.6) + rng.normal(0, 12, n))


def _ppi_file(path: Path, rr: np.ndarray, err: np.ndarray, blocker: np.ndarray,
              contact: np.ndarray) -> Path:  # fmt: skip
    # Polar Sensor Logger PPI export of a Verity Sense / OH1 (header as the app writes it;
    # field meanings from the Polar BLE SDK's PolarPpiSample).
    rows = ["Phone timestamp;PP-interval [ms];error estimate [ms];blocker;contact;"
            "contact supported"]  # fmt: skip
    t = START
    for r, e, b, c in zip(rr, err, blocker, contact, strict=True):
        t += dt.timedelta(milliseconds=float(r))
        rows.append(f"{t.isoformat(timespec='milliseconds')};{int(r)};{int(e)};{int(b)};{int(c)};1")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_polar_ppi_drops_flagged_intervals_and_says_how_many(tmp_path: Path) -> None:
    rr = _rr()
    err = np.full(rr.size, 6.0)
    blocker = np.zeros(rr.size)
    contact = np.ones(rr.size)
    err[[10, 11, 50, 51]] = [40, 35, 31, 90]  # > 30 ms: movement or loose contact (SDK)
    blocker[[100, 150, 151, 200, 250]] = 1
    contact[[120, 121, 122]] = 0
    f = _ppi_file(tmp_path / "Polar_Sense_ABC_20240505_070640_PPI.txt", rr, err, blocker, contact)
    assert detect_format(f) == "polar-ppi"
    got = read_with_meta(f)
    keep = np.ones(rr.size, dtype=bool)
    keep[[10, 11, 50, 51, 100, 150, 151, 200, 250, 120, 121, 122]] = False
    np.testing.assert_array_equal(got.series.rr_ms, rr[keep])
    assert got.series.format == "polar-ppi" and got.resolution_ms == 1.0
    assert got.warnings[0] == (
        "12 of 300 PP intervals dropped as unusable (4 error estimate > 30 ms, 5 blocker set, "
        "3 no skin contact; Polar SDK quality flags)"
    )
    # every drop breaks the segment: no successive difference spans a missing interval
    assert len(np.unique(got.series.segment)) == 1 + 7  # 7 runs of dropped rows
    assert got.started_at == START


def test_polar_sensor_logger_hr_file_is_refused_with_its_name(tmp_path: Path) -> None:
    f = tmp_path / "Polar_H10_ABC_20240505_070640_HR.txt"
    f.write_text(
        "Phone timestamp;HR [bpm]\n2024-05-05T07:06:41.000;62\n2024-05-05T07:06:42.000;63\n"
    )
    with pytest.raises(UserError, match=r"Polar Sensor Logger HR file \(heart rate only"):
        read_with_meta(f)


def _hrm(path: Path, interval: int, rows: list[str]) -> Path:
    # Polar HRM file format (Polar Electro, "Polar HRM file format", 2006): [Params] with
    # Date=yyyymmdd, StartTime=hh:mm:ss.s, Interval in s (238 = R-R recording), [HRData].
    text = (
        "[Params]\nVersion=106\nMonitor=22\nSMode=000000000\nDate=20240505\n"
        f"StartTime=07:06:40.0\nLength=00:05:00.0\nInterval={interval}\nUpper1=0\n"
        "Lower1=0\n\n[Note]\n\n[HRData]\n" + "\n".join(rows) + "\n"
    )
    path.write_text(text, newline="\r\n")
    return path


def test_polar_hrm_rr_mode_and_hr_mode(tmp_path: Path) -> None:
    rr = _rr(200)
    f = _hrm(tmp_path / "24050501.hrm", 238, [str(int(v)) for v in rr])
    assert detect_format(f) == "polar-hrm"
    got = read_with_meta(f)
    np.testing.assert_array_equal(got.series.rr_ms, rr)
    assert got.started_at == START and got.resolution_ms == 1.0
    g = _hrm(tmp_path / "24050502.hrm", 5, ["62", "63", "64"])
    with pytest.raises(UserError, match=r"Polar \.hrm in HR mode \(Interval=5: heart rate "
                       r"sampled every 5 s, no RR intervals\)"):  # fmt: skip
        read_with_meta(g)


def test_polar_flow_training_summary_is_hr_only(tmp_path: Path) -> None:
    # Polar Flow training-session CSV: a summary row, then 1 Hz samples (no RR column).
    f = tmp_path / "Jane_Doe_2024-05-05_07-06-40.csv"
    f.write_text(
        "Name,Sport,Date,Start time,Duration,Total distance (km),Average heart rate (bpm)\n"
        "Jane Doe,RUNNING,05-05-2024,07:06:40,00:30:00,5.01,142\n"
        "Sample rate,Time,HR (bpm),Speed (km/h),Pace (min/km),Cadence,Altitude (m)\n"
        "1,00:00:00,80,,,,\n1,00:00:01,81,,,,\n"
    )
    assert detect_format(f) == "polar-flow-summary"
    with pytest.raises(UserError, match=r"Polar Flow training summary: HR only, no RR intervals"):
        read_with_meta(f)


def test_wfdb_annotations_keep_labels_and_mark_ectopic_beats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    d = reference_dir("mitdb_100")
    for path in (d / "100.hea", d / "100.atr"):
        assert detect_format(path) == "wfdb"
        got = read_with_meta(path)
        # MIT-BIH 100 cardiologist labels: N 2239, A 33, V 1 (PhysioNet; 100_annotations.csv)
        counts = {s: got.labels.count(s) for s in set(got.labels)}
        assert counts == {"N": 2238, "A": 33, "V": 1}  # the first beat starts no interval
        assert got.n_beats == 2272 and got.resolution_ms == pytest.approx(1000 / 360)
        assert "34 not sinus-conducted, labelled ectopic" in got.notes[0]
        ectopic = got.ectopic_by_label
        assert ectopic is not None and int(ectopic.sum()) == 34
        assert got.series.t_s[0] == pytest.approx(370 / 360)  # from the record's start
    assert main(["analyze", str(d / "100.hea")]) == 0
    out = capsys.readouterr().out
    assert "(wfdb)" in out and "note: 2273 beat annotations at 360 Hz (N 2239, A 33, V 1)" in out


def test_wfdb_ecg_only_record_goes_through_the_r_peak_path(tmp_path: Path) -> None:
    import neurokit2 as nk
    import wfdb

    fs = 250
    ecg = nk.ecg_simulate(duration=40, sampling_rate=fs, heart_rate=66, random_state=3)
    wfdb.wrsamp("rec", fs=fs, units=["mV"], sig_name=["ECG"], p_signal=ecg.reshape(-1, 1),
                fmt=["16"], write_dir=str(tmp_path))  # fmt: skip
    got = read_with_meta(tmp_path / "rec.hea")
    assert got.series.format == "wfdb" and "R-peaks from WFDB signal 'ECG'" in got.notes[0]
    assert np.median(got.series.rr_ms) == pytest.approx(60_000 / 66, rel=0.03)
    assert got.resolution_ms == pytest.approx(4.0)


def test_ecg_beat_times_from_the_recording_start_and_undated_file_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import neurokit2 as nk

    fs = 130.0
    ecg = nk.ecg_simulate(duration=30, sampling_rate=int(fs), heart_rate=70, random_state=1)
    # Polar Sensor Logger ECG layout without a phone timestamp column: a sensor clock only
    # (ns since 2000-01-01, Polar SDK), which is never a wall time.
    t0 = 768_000_000 * 10**9
    f = tmp_path / "ecg.txt"
    f.write_text("sensor timestamp [ns];ecg [uV]\n" + "".join(
        f"{t0 + int(i * 1e9 / fs)};{v * 1000:.0f}\n" for i, v in enumerate(ecg)))  # fmt: skip
    got = read_with_meta(f)
    assert got.started_at is None
    # the same sensor clock in a time_ns column was read as Unix time: 1989, never again
    g = tmp_path / "ecg_ns.csv"
    t1989 = 610_000_000 * 10**9
    rows = "".join(f"{t1989 + int(i * 1e9 / fs)},{v:.4f}\n" for i, v in enumerate(ecg))
    g.write_text("time_ns,ecg_mV\n" + rows)
    assert read_with_meta(g).started_at is None
    peaks = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=int(fs)), sampling_rate=int(fs))[1]
    assert got.series.t_s[0] == pytest.approx(peaks["ECG_R_Peaks"][1] / fs, abs=0.02)
    db = tmp_path / "e.db"
    os.utime(f, (1_714_900_000, 1_714_900_000))
    assert main(["import", str(f), "--db", str(db)]) == 0
    assert "no wall-clock time; dated from its modification time" in capsys.readouterr().err
    from biofeedback.sessions.store import SessionReader

    with SessionReader(db) as reader:
        (info,) = reader.list_sessions()
    assert info.started_at == pytest.approx(1_714_900_000 - got.series.t_s[-1])


def test_export_folder_gives_one_session_and_one_result_per_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "elite"
    d.mkdir()
    (d / "2024-05-05 07-06-40.txt").write_text("\n".join(str(int(v)) for v in _rr(300, 1)))
    (d / "2024-05-05 07-40-02.txt").write_text("\n".join(str(int(v)) for v in _rr(280, 2)))
    sub = d / "old"
    sub.mkdir()
    (sub / "2020-01-01 07-00-00.txt").write_text("800\n810\n")  # subfolders are not read
    db = tmp_path / "x.db"
    assert main(["import", str(d), "--db", str(db)]) == 0
    from biofeedback.sessions.store import SessionReader

    with SessionReader(db) as reader:
        a, b = reader.list_sessions()
    assert (a.n_beats, b.n_beats) == (300, 280)
    assert b.started_at - a.started_at == pytest.approx(33 * 60 + 22)
    capsys.readouterr()
    assert main(["analyze", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.count(" beats, ") == 2 and "07-06-40.txt: 300 beats" in out
    assert "07-40-02.txt: 280 beats" in out


def test_each_source_carries_its_time_resolution(tmp_path: Path) -> None:
    (cap,) = read_readings(RECORDINGS / "resting-clean.jsonl")
    assert cap.resolution_ms == STRAP_RESOLUTION_MS
    f = tmp_path / "2024-05-05 07-06-40.txt"
    f.write_text("\n".join(str(int(v)) for v in _rr()))
    assert read_with_meta(f).resolution_ms == 1.0
