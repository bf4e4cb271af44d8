"""Protocols: bundled TOML files, user folders, and one-line errors for malformed files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from biofeedback.errors import UserError
from biofeedback.sessions.protocols import (
    BUILTIN_DIR,
    PhaseKind,
    ProtocolError,
    list_protocols,
    load_protocol,
    scan_protocols,
)
from tests.conftest import REPO

GOOD = """
name = "mine"
title = "My protocol"
[[phases]]
name = "rest"
kind = "baseline"
duration_s = 60
prompts = [{ at_s = 30, text = "half way" }, { at_s = 0, text = "start" }]
[[phases]]
name = "breathe"
kind = "practice"
duration_s = 120.5
pacer = { breaths_per_min = 5.5 }
"""


def _load_all(tmp_path: Path) -> list[str]:
    return [p.name for p in list_protocols(user_dir=tmp_path / "no-user-dir")]


def test_bundled_protocols_are_listed(tmp_path: Path) -> None:
    assert _load_all(tmp_path) == [
        "free",
        "loving-kindness",
        "resonance-breathing",
        "self-compassion-break",
    ]
    # Every bundled file is package data under biofeedback/sessions/protocols/.
    assert sorted(f.stem for f in BUILTIN_DIR.glob("*.toml")) == _load_all(tmp_path)


def test_self_compassion_break_has_the_three_steps(tmp_path: Path) -> None:
    p = load_protocol("self-compassion-break", user_dir=tmp_path)
    kinds = [(ph.name, ph.kind, ph.duration_s) for ph in p.phases]
    # The brief: 3 min seated baseline, three steps of ~2 min, 3 min recovery.
    assert kinds == [
        ("baseline", PhaseKind.BASELINE, 180.0),
        ("mindfulness", PhaseKind.PRACTICE, 120.0),
        ("common-humanity", PhaseKind.PRACTICE, 120.0),
        ("self-kindness", PhaseKind.PRACTICE, 120.0),
        ("recovery", PhaseKind.RECOVERY, 180.0),
    ]
    texts = {ph.name: " ".join(pr.text for pr in ph.prompts) for ph in p.phases}
    assert "This is a moment of suffering" in texts["mindfulness"]
    assert "Suffering is a part of life" in texts["common-humanity"]
    assert "others feel this too" in texts["common-humanity"]
    assert "May I be kind to myself" in texts["self-kindness"]
    assert "hands over your heart" in texts["self-kindness"]
    assert p.total_s == 720.0
    assert [(a, b) for a, b, _ in p.timeline()] == [
        (0.0, 180.0),
        (180.0, 300.0),
        (300.0, 420.0),
        (420.0, 540.0),
        (540.0, 720.0),
    ]


def test_loving_kindness_phrases(tmp_path: Path) -> None:
    p = load_protocol("loving-kindness", user_dir=tmp_path)
    text = " ".join(pr.text for ph in p.phases for pr in ph.prompts)
    for phrase in ("May I be kind to myself", "May I be free from suffering", "May I be happy"):
        assert phrase in text


def test_resonance_breathing_pacer_defaults_to_6_and_can_be_changed(tmp_path: Path) -> None:
    p = load_protocol("resonance-breathing", user_dir=tmp_path)
    paced = [ph for ph in p.phases if ph.pacer is not None]
    assert len(paced) == 1 and paced[0].pacer is not None
    assert paced[0].pacer.breaths_per_min == 6.0
    assert paced[0].pacer.period_s == 10.0
    q = p.with_breaths_per_min(5.5)
    assert [ph.pacer.breaths_per_min for ph in q.phases if ph.pacer] == [5.5]
    assert [ph.pacer for ph in q.phases if ph.pacer is None] == [None, None]
    with pytest.raises(ProtocolError, match="--breaths-per-min"):
        p.with_breaths_per_min(0)


def test_free_has_no_phases(tmp_path: Path) -> None:
    p = load_protocol("free", user_dir=tmp_path)
    assert p.phases == () and p.total_s == 0.0


def test_prompts_sorted_and_prompt_at(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(GOOD)
    p = load_protocol(f)
    rest = p.phases[0]
    assert [pr.at_s for pr in rest.prompts] == [0.0, 30.0]
    assert rest.prompt_at(0.0) is not None and rest.prompt_at(0.0).text == "start"  # type: ignore[union-attr]
    assert rest.prompt_at(29.9).text == "start"  # type: ignore[union-attr]
    assert rest.prompt_at(30.0).text == "half way"  # type: ignore[union-attr]
    assert p.phases[1].pacer is not None and p.phases[1].pacer.inhale_ratio == 0.4
    assert p.source == str(f)


def test_user_and_extra_dirs_add_and_override(tmp_path: Path) -> None:
    user = tmp_path / "user"
    extra = tmp_path / "extra"
    user.mkdir()
    extra.mkdir()
    (user / "mine.toml").write_text(GOOD)
    (extra / "free.toml").write_text('title = "My free"\n')
    names = [p.name for p in list_protocols([extra], user_dir=user)]
    assert "mine" in names and names.count("free") == 1
    assert load_protocol("free", [extra], user_dir=user).title == "My free"
    assert load_protocol("mine", user_dir=user).phases[1].duration_s == 120.5
    # Found by its name field even when the file is named differently.
    (user / "other-file.toml").write_text(GOOD.replace('"mine"', '"renamed"'))
    assert load_protocol("renamed", user_dir=user).name == "renamed"


def test_unknown_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError) as info:
        load_protocol("nope", user_dir=tmp_path)
    assert "unknown protocol 'nope'" in str(info.value)
    assert "self-compassion-break" in str(info.value)
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("duration_s = 120.5", "duration_s = -3"),
            "phases[1].duration_s: expected a positive number",
        ),
        (
            ("duration_s = 120.5", 'duration_s = "2 min"'),
            "phases[1].duration_s: expected a positive",
        ),
        (('kind = "practice"', 'kind = "exercise"'), "phases[1].kind: expected one of baseline"),
        (('name = "breathe"', 'name = "rest"'), "phases[1].name: duplicate phase name 'rest'"),
        (("at_s = 30", "at_s = 90"), "phases[0].prompts[0].at_s: 90 s is after the end"),
        (('text = "start"', "text = 3"), "phases[0].prompts[1].text: expected a non-empty string"),
        (("breaths_per_min = 5.5", "breaths_per_min = 100"), "phases[1].pacer.breaths_per_min"),
        (("breaths_per_min = 5.5", "breaths_per_min = 5, inhale_ratio = 1.5"), "inhale_ratio"),
        (('name = "mine"', 'name = "has space"'), "name: expected letters"),
        (('name = "rest"', "name = 4"), "phases[0].name: expected a non-empty string"),
        (("title =", "title = = ="), "not valid TOML"),
        # Bounds: 1e-300 s used to give a "complete" 0-beat session, 1e308 an OverflowError.
        (
            ("duration_s = 120.5", "duration_s = 1e-300"),
            "phases[1].duration_s: expected a number of seconds in [10, 86400], got 1e-300",
        ),
        (
            ("duration_s = 120.5", "duration_s = 1e308"),
            "phases[1].duration_s: expected a number of seconds in [10, 86400], got 1e+308",
        ),
        (("duration_s = 120.5", "duration_s = 9.5"), "in [10, 86400], got 9.5"),
        (
            ("duration_s = 120.5", "duration_s = 86400"),
            "phases: the phases last 86460 s in all; at most 86400 s (24 h)",
        ),
        (('title = "My protocol"', "title = " + "[" * 5000 + "]" * 5000), "nested too deeply"),
    ],
)
def test_malformed_file_names_file_and_field(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    f = tmp_path / "my.toml"
    f.write_text(GOOD.replace(edit[0], edit[1], 1))
    with pytest.raises(ProtocolError) as info:
        load_protocol(f)
    msg = str(info.value)
    assert msg.startswith(f"{f}: ")
    assert message in msg
    assert "\n" not in msg


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "missing.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProtocolError, match="not a text file"):
        load_protocol(bad)
    flat = tmp_path / "flat.toml"
    flat.write_text("phases = 3\n")
    with pytest.raises(ProtocolError, match=r"flat.toml: phases: expected an array of tables"):
        load_protocol(flat)
    # A malformed file in a search folder is reported when listing, beside the good ones.
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "broken.toml").write_text("[[phases]]\nname='x'\n")
    found = scan_protocols(user_dir=folder)
    assert "self-compassion-break" in [p.name for p in found.protocols]
    assert [str(e) for e in found.errors] == [
        f"{folder / 'broken.toml'}: phases[0].kind: expected one of baseline, practice, "
        "recovery, got None"
    ]


def test_protocol_list_shows_the_good_ones_and_names_every_bad_one(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "good.toml").write_text(GOOD.replace('name = "mine"', 'name = "good"'))
    (folder / "a-bad.toml").write_text("[[phases]]\nname='x'\n")
    (folder / "z-bad.toml").write_text("title = = =\n")
    cmd = [sys.executable, "-m", "biofeedback", "record", "--protocol", "list"]
    r = subprocess.run(
        [*cmd, "--protocols-dir", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 2
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == [
        "free",
        "good",
        "loving-kindness",
        "resonance-breathing",
        "self-compassion-break",
    ]
    err = r.stderr.strip().splitlines()
    assert len(err) == 2, err
    assert err[0].startswith(f"biofeedback record: error: {folder / 'a-bad.toml'}: phases[0].kind")
    assert err[1].startswith(f"biofeedback record: error: {folder / 'z-bad.toml'}: not valid TOML")


def test_record_protocol_list_and_bad_protocol_through_the_cli(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "biofeedback", "record", "--protocol", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "self-compassion-break" in r.stdout and "12:00" in r.stdout
    bad = tmp_path / "my.toml"
    bad.write_text(GOOD.replace("duration_s = 120.5", "duration_s = 0"))
    cmd = [sys.executable, "-m", "biofeedback", "record", "--replay", "x.jsonl"]
    cmd += ["--protocol", str(bad), "--db", str(tmp_path / "s.db")]
    r = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1
    assert f"{bad}: phases[1].duration_s: expected a positive number" in err[0]
    assert not (tmp_path / "s.db").exists()  # nothing created on bad input
