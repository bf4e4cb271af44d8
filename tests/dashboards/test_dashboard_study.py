"""Sessions page: study and participant filters, on either store backend."""

from __future__ import annotations

import pytest

pytest.importorskip("dash")

from biofeedback.beats import Beat
from biofeedback.sessions.store import NewSession, SessionReader, SessionStatus, Store
from dashboards.app import render_page
from dashboards.data import DashboardData
from dashboards.pages import sessions as sessions_page
from tests.dashboards.test_dashboard_callbacks import text_in


def test_sessions_page_filters_by_study_and_participant(db_target: str) -> None:
    with Store(db_target) as store:
        for participant, study in (("P01", "A"), ("P02", "A"), ("P01", "B"), (None, None)):
            w = store.begin_session(
                NewSession(source="import", participant=participant, study=study)
            )
            w.add_beats([Beat(1.0, 1000.0, None, 0)])
            w.finish(SessionStatus.COMPLETE)
    with SessionReader(db_target) as reader:
        data = DashboardData(reader)
        assert "4 of 4 sessions" in text_in(render_page(data, None, "/sessions", ""))
        page = text_in(render_page(data, None, "/sessions", "?study=A"))
        assert "2 of 4 sessions" in page and "A / P02" in page
        page = text_in(render_page(data, None, "/sessions", "?study=A&participant=P01"))
        assert "1 of 4 sessions" in page
        s = sessions_page.search_for(None, None, None, None, "A", "P01")
        assert sessions_page.filters_from_search(s) == {"study": "A", "participant": "P01"}
