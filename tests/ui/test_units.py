"""The dashboard's pure parts: where it may listen, the chart's layout, how values read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simops.campaigns.store.campaign_store import ThroughputBucket
from simops.cli import app
from simops.runtime.hosts import is_loopback
from simops.ui.app import duration, number, ui_url, when
from simops.ui.chart import MOST_BUCKETS, bucket_seconds, throughput_chart
from simops.ui.security import UiConfigError, check_bind

START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "dashboard.example.com"])
def test_another_address_needs_a_token(host: str) -> None:
    with pytest.raises(UiConfigError, match="without SIMOPS_UI_TOKEN"):
        check_bind(host, None)
    check_bind(host, "x" * 16)


def test_a_short_token_is_refused_anywhere() -> None:
    with pytest.raises(UiConfigError, match="at least 16"):
        check_bind("127.0.0.1", "short")


def test_simops_ui_refuses_an_open_address_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMOPS_UI_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "SIMOPS_UI_TOKEN" in result.output


def test_the_interval_keeps_the_chart_short() -> None:
    assert bucket_seconds(START, START + timedelta(seconds=30)) == 1
    assert bucket_seconds(START, START + timedelta(hours=2)) == 7200 // MOST_BUCKETS


def test_the_chart_fills_quiet_intervals_and_draws_the_rate() -> None:
    buckets = [ThroughputBucket(START, 10), ThroughputBucket(START + timedelta(seconds=4), 30)]
    chart = throughput_chart(buckets, START, START + timedelta(seconds=4), 2, rate=40.0)
    values = [point.split(",") for point in chart.points.split()]
    assert len(values) == 3 and chart.peak == 15.0 and chart.bucket_seconds == 2
    # y grows downwards: the quiet middle interval is lowest, the rate line above the peak.
    heights = [float(y) for _, y in values]
    assert heights[1] == chart.bottom and heights[2] < heights[0] < heights[1]
    assert chart.rate_y is not None and chart.top <= chart.rate_y < heights[2]
    assert [tick.label for tick in chart.x_ticks] == ["12:00:00", "12:00:02", "12:00:04"]
    assert chart.y_ticks[-1].label == "50"


def test_values_read_the_same_everywhere() -> None:
    assert when(START) == "2026-05-01 12:00:00 UTC" and when(None) == ""
    assert duration(42.4) == "42 s" and duration(200) == "3 min 20 s"
    assert duration(7500) == "2 h 05 min" and duration(None) == ""
    assert number(12345.678, 1) == "12,345.7" and number(None) == ""
    assert ui_url("127.0.0.1", 8789) == "http://127.0.0.1:8789/"
    assert ui_url("::1", 8789) == "http://[::1]:8789/"
