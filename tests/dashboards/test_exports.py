"""Exports from the dashboard: every format downloads, bad requests are one-line 404s."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from biofeedback.sessions.store import SessionReader
from dashboards import create_app
from dashboards.sample import populate_store


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("exp") / "e.db"
    populate_store(db, 1, seed=5)
    reader = SessionReader(db)
    yield create_app(reader).server.test_client()
    reader.close()


def test_json_csv_kubios_and_html_download(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/export/1.json")
    assert r.status_code == 200 and "session-1.json" in r.headers["Content-Disposition"]
    assert json.loads(r.data)  # a real JSON document
    r = client.get("/export/1.csv")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert len(names) == 2 and all(n.endswith(".csv") for n in names)
    r = client.get("/export/1.kubios")
    assert r.status_code == 200 and r.data.strip()
    r = client.get("/export/1.html")
    assert r.status_code == 200 and b"<html" in r.data[:2000].lower()


def test_unknown_session_and_format_are_one_line_404s(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/export/999.json")
    assert r.status_code == 404 and r.data.decode().count("\n") == 1
    r = client.get("/export/1.exe")
    assert r.status_code == 404 and b"unknown export format" in r.data


def test_the_session_page_offers_every_export(tmp_path: Path) -> None:
    from dashboards.data import DashboardData
    from dashboards.pages.session import layout

    db = tmp_path / "s.db"
    populate_store(db, 1, seed=5)
    with SessionReader(db) as reader:
        page = repr(layout(DashboardData(reader), 1))
    for fmt in ("html", "pdf", "csv", "json", "kubios"):
        assert f"/export/1.{fmt}" in page
    assert "summary-verdict" in page


def test_responses_are_gzipped_for_browsers_that_accept_it(client) -> None:  # type: ignore[no-untyped-def]
    import gzip
    import re

    page = client.get("/live", headers={"Accept-Encoding": "gzip"})
    html = gzip.decompress(page.data).decode() if page.headers.get("Content-Encoding") else ""
    src = re.search(r'src="(/_dash-component-suites/plotly/[^"]*plotly[^"]*\.js)"', html)
    if src is None:  # plotly.js is loaded lazily by dcc.Graph: take the async bundle's name
        src = re.search(r'src="(/_dash-component-suites/dash/dcc/[^"]*\.js)"', html)
    assert src is not None, html[:500]
    plain = client.get(src.group(1))
    gz = client.get(src.group(1), headers={"Accept-Encoding": "gzip, br"})
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gz.data) == plain.data
    assert len(gz.data) < 0.5 * len(plain.data)
