"""``biofeedback analyze``: JSON contract, table, exit codes, too-short records."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biofeedback.cli import analyze
from biofeedback.errors import UserError
from biofeedback.hrv.analysis import METRIC_KEYS
from biofeedback.synth import stationary_rr as simulate_rr

REPO = Path(__file__).resolve().parents[2]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    analyze.add_arguments(p)
    return p.parse_args(list(argv))


def _write(tmp_path: Path, rr: np.ndarray, name: str = "rr.txt") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(f"{v:.3f}" for v in rr) + "\n")
    return p


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # source: docs/architecture.md §5 JSON keys; seeded simulated 10-min RR
    p = _write(tmp_path, simulate_rr(600.0, seed=1))
    assert analyze.run(_args(str(p), "--json")) == 0
    obj = json.loads(capsys.readouterr().out)
    assert list(obj) == [
        "source", "n_beats", "duration_s", "reliable", "quality", "warnings", "artifacts",
        "metrics", "withheld_metrics",
    ]  # fmt: skip
    assert list(obj["quality"]) == [
        "grade", "beats_corrected", "corrected_pct", "irregular_pct", "resolution_ms",
        "resolution_source", "reasons",
    ]  # fmt: skip
    assert obj["quality"]["grade"] == "good" and obj["withheld_metrics"] is None
    assert list(obj["artifacts"]) == ["corrected", "count", "rate", "by_type"]
    assert set(obj["artifacts"]["by_type"]) == {
        "ectopic", "missed", "extra", "longshort", "out_of_range",
    }  # fmt: skip
    assert list(obj["metrics"]) == list(METRIC_KEYS)
    assert obj["reliable"] is True and obj["artifacts"]["corrected"] is True
    assert obj["metrics"]["RMSSD_ms"] > 0 and obj["metrics"]["LF_ms2"] > 0


def test_short_record_gives_null_with_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # source: Task Force 1996 minimum lengths (LF ≥ 2 min); 90 s of simulated RR
    p = _write(tmp_path, simulate_rr(90.0, seed=2))
    assert analyze.run(_args(str(p), "--json", "--no-correct")) == 0
    obj = json.loads(capsys.readouterr().out)
    m = obj["metrics"]
    assert m["RMSSD_ms"] is not None
    for k in ("LF_ms2", "LFHF", "VLF_ms2", "DFA_alpha2", "StressIndex"):
        assert m[k] is None
        assert any(w.startswith(f"{k}: not computed") for w in obj["warnings"])
    assert obj["artifacts"]["corrected"] is False


def test_table_output_and_detrend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, simulate_rr(400.0, seed=3))
    assert analyze.run(_args(str(p), "--detrend", "smoothness-priors")) == 0
    out = capsys.readouterr().out
    assert "quality: good" in out and "RMSSD_ms" in out and "LF_ms2" in out


def test_bad_file_is_user_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_text("800\nhello\n")
    with pytest.raises(UserError, match=r"bad.txt:2: not a number"):
        analyze.run(_args(str(p)))


def test_cli_subprocess_exit_codes(tmp_path: Path) -> None:
    """Through the real entry point."""
    good = _write(tmp_path, simulate_rr(200.0, seed=4))
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    env_cmd = [sys.executable, "-m", "biofeedback", "analyze"]
    r = subprocess.run([*env_cmd, str(good), "--json"], capture_output=True, text=True,
                       cwd=REPO, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_beats"] > 0
    r = subprocess.run([*env_cmd, str(bad)], capture_output=True, text=True, cwd=REPO,
                       timeout=60)  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "empty.txt" in lines[0] and "no RR values" in lines[0]


def test_metrics_option_and_bad_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, simulate_rr(400.0, seed=4))
    assert analyze.run(_args(str(p), "--json", "--metrics", "time,freq")) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert m["RMSSD_ms"] is not None and m["LF_ms2"] is not None and m["SampEn"] is None
    with pytest.raises(UserError, match="unknown metric group 'bogus'"):
        analyze.run(_args(str(p), "--metrics", "time,bogus"))
