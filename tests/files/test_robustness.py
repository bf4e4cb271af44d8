"""Importer parts of the security/hardening issues: one line for every bad file, bounded
memory, no hang, and the same rules for captures as for RR text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from biofeedback.cli import main
from biofeedback.errors import UserError
from biofeedback.files import read_readings, read_with_meta
from biofeedback.files.validate import MAX_BEATS, MAX_TEXT_BYTES
from biofeedback.sessions.store import SessionReader
from tests.conftest import RECORDINGS, REPO

CLEAN = RECORDINGS / "resting-clean.jsonl"  # 180 s, header phase "rest" 0-180 s


def _one_line_refusal(argv: list[str], capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err


def _rr_file(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(4)
    path.write_text("\n".join(f"{v:.0f}" for v in 850 + rng.normal(0, 20, n)) + "\n")
    return path


def test_capture_longer_than_its_header_phases_is_not_cut_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = CLEAN.read_text().splitlines()
    head = json.loads(lines[0])
    head["phases"] = [{"name": "rest", "kind": "baseline", "duration_s": 60.0}]
    f = tmp_path / "long.jsonl"
    f.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    db = tmp_path / "s.db"
    _one_line_refusal(["import", str(f), "--db", str(db)], capsys,
                      "header's phases end at 60 s; the beats after it would be lost")  # fmt: skip
    assert main(["import", str(f), "--db", str(db), "--no-phases"]) == 0
    (n_all,) = (r.n_beats for r in read_readings(f))
    with SessionReader(db) as reader:
        (info,) = reader.list_sessions()
    assert info.n_beats == n_all and info.protocol == "free"


def test_header_only_capture_is_refused_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "empty.jsonl"
    f.write_text(CLEAN.read_text().splitlines()[0] + "\n")
    db = tmp_path / "s.db"
    _one_line_refusal(["import", str(f), "--db", str(db)], capsys, "contains no RR intervals")
    assert not db.exists()


def test_importing_the_same_file_twice_is_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _rr_file(tmp_path / "rr.txt")
    db = tmp_path / "s.db"
    for src in (f, CLEAN):
        assert main(["import", str(src), "--db", str(db)]) == 0
        capsys.readouterr()
        _one_line_refusal(["import", str(src), "--db", str(db)], capsys, "already imported as")
    assert main(["import", str(f), "--db", str(db), "--allow-duplicate"]) == 0
    with SessionReader(db) as reader:
        assert len(reader.list_sessions()) == 3


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root needs setpriv"
)
def test_permission_denied_is_one_line(tmp_path: Path) -> None:
    f = _rr_file(tmp_path / "rr.txt")
    cap = tmp_path / "c.jsonl"
    cap.write_bytes(CLEAN.read_bytes())
    for p in (f, cap):
        p.chmod(0)
    # root reads any file: drop the capabilities that let it (setpriv, util-linux)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]  # fmt: skip
    prefix = drop if os.geteuid() == 0 else []
    for p in (f, cap):
        for cmd in ("analyze", "import"):
            r = subprocess.run(
                [*prefix, sys.executable, "-m", "biofeedback", cmd, str(p),
                 *(["--db", str(tmp_path / "x.db")] if cmd == "import" else [])],
                capture_output=True, text=True, cwd=REPO, timeout=120,
            )  # fmt: skip
            assert r.returncode == 2, r.stderr
            assert r.stderr.count("\n") == 1 and "Permission denied" in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [("inf", "not a finite time"), ("nan", "not a finite time"), ("const", "not increasing")],
)
def test_ecg_csv_with_broken_time_column_is_one_line(
    tmp_path: Path, cell: str, fragment: str
) -> None:
    n = 2000
    t = [str(1_714_920_600_000_000_000 + i * 7_692_307) for i in range(n)]
    if cell == "const":
        t = [t[0]] * n
    else:
        t[500] = cell
    f = tmp_path / "ecg.csv"
    f.write_text(
        "time_ns,ecg_mV\n" + "".join(f"{x},{np.sin(i / 9):.3f}\n" for i, x in enumerate(t))
    )
    with pytest.raises(UserError, match=fragment) as ei:
        read_with_meta(f)
    assert "\n" not in str(ei.value)


def test_edf_with_zero_record_duration_or_negative_samples_is_one_line(tmp_path: Path) -> None:
    from tests.files.test_importers import _edf_bytes

    sig = [("ECG", "mV", -5, 5, 10, np.zeros(100, dtype=np.int16))]
    f = tmp_path / "a.edf"
    f.write_bytes(_edf_bytes(sig, 0, 10))
    with pytest.raises(UserError, match=r"record duration 0 s \(must be a positive number\)"):
        read_with_meta(f)
    raw = bytearray(_edf_bytes(sig, 1, 10))
    raw[256 + 216 : 256 + 224] = b"-10     "  # samples per record of signal 1
    f.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"samples per record \[-10\] \(must be positive\)"):
        read_with_meta(f)


def test_deeply_nested_capture_line_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "deep.jsonl"
    f.write_text(CLEAN.read_text().splitlines()[0] + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(UserError, match=r"deep\.jsonl:2: JSON nested too deeply"):
        read_with_meta(f)


def test_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    z = tmp_path / "bomb.zip"
    size = MAX_TEXT_BYTES + (1 << 20)
    with (
        zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("2024-05-05 07-06-40.txt", "w") as m,
    ):
        block = b"800\n" * (1 << 18)  # 1 MiB
        for _ in range(size >> 20):
            m.write(block)
    assert z.stat().st_size < 1 << 20
    tracemalloc.start()
    with pytest.raises(UserError, match=r"unpacks to 65 MiB; more than the 64 MiB accepted"):
        read_readings(z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20


def test_ten_million_lines_are_refused_in_one_line_with_bounded_memory(tmp_path: Path) -> None:
    f = tmp_path / "big.txt"
    with f.open("wb") as fh:
        for _ in range(10):
            fh.write(b"800\n" * 1_000_000)
    tracemalloc.start()
    with pytest.raises(UserError, match=f"more than {MAX_BEATS:,} beats"):
        read_readings(f)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * f.stat().st_size  # the bytes once (40 MB), never 9 GB of arrays


def test_fifo_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for cmd in ("analyze", "import"):
        _one_line_refusal([cmd, str(fifo), "--db", str(tmp_path / "s.db")] if cmd == "import"
                          else [cmd, str(fifo)], capsys, "not a regular file")  # fmt: skip


def test_folder_without_readings_of_its_own_is_not_walked(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    _rr_file(deep / "2024-05-05 07-06-40.txt")
    with pytest.raises(UserError, match="is a directory without readings"):
        read_readings(tmp_path)


def test_capture_truncated_last_line_and_bom_are_accepted_like_rr_text(tmp_path: Path) -> None:
    (whole,) = read_readings(CLEAN)
    text = CLEAN.read_text()
    f = tmp_path / "cut.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + text.encode()[:-25])  # BOM, and the last line cut short
    (got,) = read_readings(f)
    assert 0 < whole.n_beats - got.n_beats <= 3
    assert any("line" in w and "cut short" in w for w in got.warnings)
    g = tmp_path / "rr.txt"
    g.write_bytes(b"\xef\xbb\xbf" + b"800\n810\n805\n81")
    assert read_with_meta(g).n_beats == 4


def test_kubios_row_with_a_non_numeric_rr_is_an_error_not_dropped(tmp_path: Path) -> None:
    f = tmp_path / "k.txt"
    rows = [f"  ,  {0.8 * (i + 1):.3f},  0.800," for i in range(10)]
    rows[4] = "  ,  4.000,  abc,"
    f.write_text("Kubios HRV analysis results\nRR INTERVAL DATA and SPECTRUM ESTIMATES,\n"
                 "  ,  Time, RR interval,\n  ,  (s), (s),\n" + "\n".join(rows) + "\n")  # fmt: skip
    with pytest.raises(UserError, match=r"k\.txt:9: Kubios RR row: not a number"):
        read_with_meta(f)


def test_capture_with_a_header_longer_than_the_sniff_read_is_a_capture(tmp_path: Path) -> None:
    # Found by the injection tier: a 10 kB device name made the one-line JSON header longer
    # than the format sniffer's read, and the file was taken for RR text.
    from biofeedback.files.sniff import HEAD_BYTES, detect_format

    lines = (RECORDINGS / "resting-clean.jsonl").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    header["device"]["name"] = "Polar H10 " + "\u05e9" * 10_000
    path = tmp_path / "long-header.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n", encoding="utf-8")
    assert len(path.read_text(encoding="utf-8").splitlines()[0].encode()) > HEAD_BYTES
    assert detect_format(path) == "capture"
    (reading,) = read_readings(path)
    assert len(reading.series.rr_ms) > 100
