"""The wheel's package list (pyproject.toml lists it by hand) matches the source tree."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_package_dir_is_listed_and_every_listed_package_exists() -> None:
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapped = cfg.get("package-dir", {})
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for top in ("biofeedback", "devices", "dashboards")
        for p in (REPO / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these packages to pyproject.toml"
    for name in listed - on_disk:
        assert name in mapped and (REPO / mapped[name] / "__init__.py").is_file(), name
