"""tools/render_dashboard.py without Prometheus: every panel of the dashboard becomes queries
it can send, and what the queries answer (or do not) is what the page shows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tools.render_dashboard import (
    DASHBOARD,
    Window,
    page_html,
    panel_queries,
    query_panels,
    substitute,
)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_every_panel_target_becomes_a_query_with_no_variable_left() -> None:
    panels = panel_queries(dashboard(), step=1)

    assert [panel["title"] for panel, _ in panels] == [p["title"] for p in dashboard()["panels"]]
    for panel, queries in panels:
        assert len(queries) == len(panel["targets"]) > 0
        assert all("$" not in query.expression for query in queries), panel["title"]
    # The campaign selector opens on "All": its allValue, every campaign.
    assert 'campaign=~".*"' in panels[0][1][0].expression


def test_grafana_interval_variables_follow_the_step_and_unknown_ones_are_refused() -> None:
    assert substitute("rate(x[$__rate_interval])", {}, step=1) == "rate(x[4s])"
    assert substitute("rate(x[${__interval}])", {}, step=6) == "rate(x[6s])"
    with pytest.raises(ValueError, match=r"\$nowhere"):
        substitute("x{a=~'$nowhere'}", {}, step=1)


def test_a_query_with_no_answer_is_shown_as_no_data_never_invented() -> None:
    window = Window(start=1000.0, end=1100.0, step=1)
    first_expression = panel_queries(dashboard(), step=1)[0][1][0].expression

    def run(expression: str) -> list[dict[str, Any]]:
        if expression != first_expression:
            return []
        values = [[1000 + t, str(t)] for t in range(101)] + [[1101, "NaN"]]
        return [{"metric": {"campaign": "c1", "outcome": "converged"}, "values": values}]

    panels = query_panels(dashboard(), window, run)

    assert panels[0].empty == [] and [s.name for s in panels[0].series] == ["c1 converged"]
    assert len(panels[0].series[0].points) == 101  # the NaN is a gap, not a point
    assert all(not panel.series and panel.empty for panel in panels[1:])
    page = page_html(dashboard(), panels, window, "a test")
    assert all(panel.title in page for panel in panels)
    assert page.count(">no data</text>") == len(panels) - 1
