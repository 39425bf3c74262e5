"""Draw the Grafana dashboard (docs/grafana/simops.json) from a real campaign, as a PNG:
    .venv/bin/python -m tools.render_dashboard --out docs/images/dashboard.png

Grafana cannot be installed where these docs are written; Prometheus can (Debian's `prometheus`
package), and so can Chromium. So this tool starts `simops dev` in a temporary directory and a
Prometheus scraping its ingress and workers every second, injects 429s, 500s and duplicate
callbacks into the emulator, and runs an activate campaign over every seeded SIM. It then asks
Prometheus for each panel's expressions over the run (`query_range`), draws the panels where the
dashboard's `gridPos` puts them (inline SVG, nothing downloaded), and screenshots the page with
headless Chromium. A query that returns nothing is drawn as "no data" and listed at the end:
nothing in the image is made up.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simops.devstack.processes import port_in_use
from simops.runtime.ports import free_port
from tests.helpers.processes import (
    DEV_READY_LINE,
    DevBanner,
    dev_ports,
    port_options,
    run_simops,
    start_simops,
)
from tools.chromium import headless_chromium

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "docs" / "grafana" / "simops.json"
STARTUP_SECONDS = 180.0
SCRAPE_SECONDS = 1
BASELINE_SECONDS = 20.0
"""Scraped before the campaign starts and after it ends, so the graphs show it begin and end."""
ENDED_PHASES = frozenset({"completed", "cancelled", "stopped"})
FAULTS = {"rate_limit_rate": 0.05, "error_rate": 0.02}
"""What the emulator injects: 429s and 500s, which simops retries (the 429s and retry-wait
panels); a write answered 500 is settled by the batch's polling, the campaign's slow tail."""

PAGE_WIDTH = 1600
PAGE_PADDING = 16
GRID_COLUMNS = 24
ROW_HEIGHT = 40
"""Pixels per `gridPos` height unit: Grafana's 30 leaves too little room under our legends."""
GAP = 8
TITLE_HEIGHT = 28
LEGEND_LINE = 15
AXIS_LEFT = 64
AXIS_BOTTOM = 20
COLORS = (
    "#7EB26D",
    "#EAB839",
    "#6ED0E0",
    "#EF843C",
    "#E24D42",
    "#1F78C1",
    "#BA43A9",
    "#705DA0",
    "#508642",
    "#CCA300",
    "#447EBC",
    "#C15C17",
)
"""Grafana's classic palette, in its order."""
UNIT_SUFFIX = {"ops": " ops/s", "reqps": " req/s", "s": " s"}


@dataclass(frozen=True)
class Query:
    """One target of a panel, its Grafana variables substituted."""

    expression: str
    legend: str


@dataclass(frozen=True)
class Series:
    """One line of a panel: its legend and its (unix time, value) points, NaNs left out."""

    name: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Panel:
    """A dashboard panel and what Prometheus answered to its queries."""

    title: str
    grid: dict[str, int]
    unit: str | None
    series: list[Series]
    empty: list[str]
    """The legends of the targets that returned no data."""


@dataclass(frozen=True)
class Window:
    """The time range the panels show and the step of their queries, in seconds."""

    start: float
    end: float
    step: int


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """The value of each template variable as the dashboard opens: its current selection, and
    for "All" its `allValue` (the campaign selector's `.*`: every campaign)."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "datasource":
            continue
        current = variable["current"]["value"]
        values[variable["name"]] = variable["allValue"] if current == "$__all" else current
    return values


def substitute(expression: str, values: dict[str, str], step: int) -> str:
    """`expression` with `$name` and `${name}` replaced, Grafana's interval variables included
    (as Grafana computes them for a Prometheus scraped every `SCRAPE_SECONDS`)."""
    builtins = {
        "__interval": f"{step}s",
        "__rate_interval": f"{max(step + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s",
    }
    known = {**builtins, **values}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise ValueError(f"unknown dashboard variable ${name} in {expression!r}")
        return known[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expression)


def panel_queries(dashboard: dict[str, Any], step: int) -> list[tuple[dict[str, Any], list[Query]]]:
    """Every panel of the dashboard with its targets' queries; raises `ValueError` for a panel
    this tool cannot draw, rather than leave it out of the image."""
    values = variable_values(dashboard)
    panels = []
    for panel in dashboard["panels"]:
        if panel["type"] != "timeseries":
            raise ValueError(f"panel {panel['title']!r}: cannot draw a {panel['type']} panel")
        queries = [
            Query(substitute(target["expr"], values, step), target.get("legendFormat", ""))
            for target in panel["targets"]
        ]
        panels.append((panel, queries))
    return panels


def legend_name(legend: str, labels: dict[str, str]) -> str:
    """Grafana's legend: `{{label}}` replaced by the series' value (empty when it has none);
    with no legend format, the series' labels."""
    if not legend:
        return "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), legend).strip()


def query_range(prometheus: str, expression: str, window: Window) -> list[dict[str, Any]]:
    """Prometheus' answer to a range query: one `{metric, values}` per series."""
    arguments = urllib.parse.urlencode(
        {"query": expression, "start": window.start, "end": window.end, "step": window.step}
    )
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{arguments}") as response:
        answer = json.load(response)
    if answer["status"] != "success":
        raise RuntimeError(f"{expression}: {answer}")
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def query_panels(
    dashboard: dict[str, Any], window: Window, run: Callable[[str], list[dict[str, Any]]]
) -> list[Panel]:
    """Every panel with the series its queries returned, `run` answering one expression."""
    panels = []
    for panel, queries in panel_queries(dashboard, window.step):
        series, empty = [], []
        for query in queries:
            found = []
            for answer in run(query.expression):
                points = [(float(t), float(v)) for t, v in answer["values"]]
                points = [(t, v) for t, v in points if math.isfinite(v)]
                if points:
                    found.append(Series(legend_name(query.legend, answer["metric"]), points))
            series += sorted(found, key=lambda each: each.name)
            if not found:
                empty.append(query.legend or query.expression)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        panels.append(Panel(panel["title"], panel["gridPos"], unit, series, empty))
    return panels


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values from `low` to at least `high`, about `count` of them (1, 2 or 5 times a
    power of ten apart)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(first + len(ticks) * step)
    return ticks


def format_value(value: float, unit: str | None) -> str:
    """A tick label: three significant digits, k and M for large values, ms below a second."""
    if unit == "s" and 0 < abs(value) < 1:
        return f"{value * 1000:.3g} ms"
    for factor, prefix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{UNIT_SUFFIX.get(unit or '', '')}"
    return f"{value:.3g}{UNIT_SUFFIX.get(unit or '', '' if unit is None else f' {unit}')}"


def runs(points: list[tuple[float, float]], step: int) -> Iterator[list[tuple[float, float]]]:
    """The points split where Prometheus returned nothing for a step: a gap, not a line."""
    current: list[tuple[float, float]] = []
    for point in points:
        if current and point[0] - current[-1][0] > 1.5 * step:
            yield current
            current = []
        current.append(point)
    if current:
        yield current


def time_ticks(window: Window) -> list[float]:
    """Unix times on round seconds or minutes, at most eight across the window."""
    span = window.end - window.start
    every = next(s for s in (5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= 8)
    first = math.ceil(window.start / every) * every
    return [float(t) for t in range(int(first), int(window.end) + 1, every)]


def panel_svg(panel: Panel, window: Window, width: int, height: int) -> str:
    """The panel's graph: axes, grid lines and one polyline per series."""
    plot_width, plot_height = width - AXIS_LEFT - 8, height - AXIS_BOTTOM - 6
    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    values = [v for s in panel.series for _, v in s.points]
    if not values:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" class="nodata" text-anchor="middle">'
            "no data</text></svg>"
        )
        return "".join(parts)
    ticks = nice_ticks(min(0.0, *values), max(values))

    def x(t: float) -> float:
        return AXIS_LEFT + (t - window.start) / (window.end - window.start) * plot_width

    def y(v: float) -> float:
        return 6 + plot_height - (v - ticks[0]) / (ticks[-1] - ticks[0]) * plot_height

    for tick in ticks:
        parts.append(
            f'<line x1="{AXIS_LEFT}" x2="{AXIS_LEFT + plot_width}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" class="grid"/><text x="{AXIS_LEFT - 6}" y="{y(tick) + 4:.1f}" '
            f'text-anchor="end">{html.escape(format_value(tick, panel.unit))}</text>'
        )
    for tick in time_ticks(window):
        label = datetime.fromtimestamp(tick, UTC).strftime("%H:%M:%S")
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="6" y2="{6 + plot_height}" '
            f'class="grid"/><text x="{x(tick):.1f}" y="{height - 4}" text-anchor="middle">'
            f"{label}</text>"
        )
    for index, series in enumerate(panel.series):
        color = COLORS[index % len(COLORS)]
        for run in runs(series.points, window.step):
            if len(run) == 1:
                (t, v) = run[0]
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="1.5" fill="{color}"/>')
                continue
            coordinates = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            parts.append(f'<polyline points="{coordinates}" stroke="{color}" class="line"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_lines(panel: Panel) -> int:
    """Lines the legend takes: two entries a line, then one line naming the empty targets."""
    return math.ceil(len(panel.series) / 2) + (1 if panel.empty and panel.series else 0)


def panel_html(panel: Panel, window: Window, column_width: float) -> str:
    """One panel, placed on the page as its `gridPos` places it on the dashboard's grid."""
    grid = panel.grid
    width = round(grid["w"] * column_width + (grid["w"] - 1) * GAP)
    height = grid["h"] * ROW_HEIGHT + (grid["h"] - 1) * GAP
    graph_height = height - TITLE_HEIGHT - legend_lines(panel) * LEGEND_LINE - 8
    legend = "".join(
        f'<span class="entry"><i style="background:{COLORS[index % len(COLORS)]}"></i>'
        f"{html.escape(series.name)}</span>"
        for index, series in enumerate(panel.series)
    )
    if panel.empty and panel.series:
        legend += f'<span class="empty">no data: {html.escape(", ".join(panel.empty))}</span>'
    top = PAGE_PADDING + grid["y"] * (ROW_HEIGHT + GAP)
    left = PAGE_PADDING + grid["x"] * (column_width + GAP)
    return (
        f'<div class="panel" style="left:{left:.0f}px;top:{top}px;width:{width}px;'
        f'height:{height}px"><h2>{html.escape(panel.title)}</h2>'
        f"{panel_svg(panel, window, width, graph_height)}"
        f'<div class="legend">{legend}</div></div>'
    )


STYLE = """
body { margin: 0; overflow: hidden; background: #111217; color: #ccccdc; font: 12px sans-serif; }
header { padding: 12px 16px 0; }
header h1 { margin: 0 0 4px; font-size: 18px; color: #d8d9da; }
main { position: relative; }
.panel { position: absolute; box-sizing: border-box; background: #181b1f;
  border: 1px solid #2c3235; border-radius: 2px; padding: 0 8px; overflow: hidden; }
.panel h2 { font-size: 13px; margin: 0; line-height: 28px; color: #d8d9da; }
svg text { fill: #8e8e8e; font: 10px sans-serif; }
svg text.nodata { fill: #8e8e8e; font: 14px sans-serif; }
.grid { stroke: #2c3235; stroke-width: 1; }
.line { fill: none; stroke-width: 1.5; }
.legend { display: flex; flex-wrap: wrap; line-height: 15px; font-size: 11px; }
.legend .entry { width: 50%; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.legend i { display: inline-block; width: 14px; height: 3px; margin: 0 5px 3px 0;
  vertical-align: middle; }
.legend .empty { width: 100%; color: #8e8e8e; }
"""


def page_html(dashboard: dict[str, Any], panels: list[Panel], window: Window, run: str) -> str:
    """The whole page: a header saying what this is and what `run` was, then every panel."""
    column_width = (PAGE_WIDTH - 2 * PAGE_PADDING - (GRID_COLUMNS - 1) * GAP) / GRID_COLUMNS
    bottom = max(p.grid["y"] + p.grid["h"] for p in panels)
    values = ", ".join(f"{name} = {value}" for name, value in variable_values(dashboard).items())
    start, end = (datetime.fromtimestamp(t, UTC) for t in (window.start, window.end))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
        f"<header><h1>{html.escape(dashboard['title'])}</h1>"
        f"{start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC, step {window.step} s; "
        f"{html.escape(values)}. Prometheus query_range results of a real simops dev campaign, "
        f"drawn by tools/render_dashboard.py (not a Grafana screenshot).<br>{html.escape(run)}"
        "</header>"
        f'<main style="height:{2 * PAGE_PADDING + bottom * (ROW_HEIGHT + GAP)}px">'
        + "".join(panel_html(panel, window, column_width) for panel in panels)
        + "</main></body></html>"
    )


def screenshot(page: Path, out: Path, chromium: str, chromedriver: str) -> None:
    """Open `page` in headless Chromium and save the whole of it as a PNG."""
    driver = headless_chromium(
        chromium, chromedriver, page.parent / "chromium", "--force-device-scale-factor=1"
    )
    try:
        driver.get(page.as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        # A window's size includes its frame: set the viewport itself to the whole page.
        metrics = {"width": PAGE_WIDTH, "height": int(height), "deviceScaleFactor": 1}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            raise RuntimeError(f"Chromium could not write {out}")
    finally:
        driver.quit()


@dataclass
class Stack:
    """`simops dev` and a Prometheus scraping it, both running in `directory`."""

    directory: Path
    dev: subprocess.Popen[str]
    prometheus: subprocess.Popen[bytes]
    prometheus_url: str
    emulator_url: str
    fleet: str

    def simops(self, *arguments: str) -> str:
        """Run a simops command against the stack, as a user would in its directory."""
        result = run_simops(arguments, self.directory, echo=True)
        if result.returncode != 0:
            raise RuntimeError(f"simops {' '.join(arguments)} failed:\n{result.stderr}")
        return result.stdout

    def stop(self) -> None:
        """Stop Prometheus and the stack the way Ctrl-C would."""
        interrupt(self.prometheus, self.dev)


def interrupt(*processes: subprocess.Popen[Any]) -> None:
    """Stop `processes` the way Ctrl-C would, and wait for them."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        process.wait(timeout=120)


def free_port_range(count: int) -> int:
    """A port with the `count` ports above it free too (the ingress's and the workers')."""
    while True:
        port = free_port()
        if not any(port_in_use(port + n) for n in range(count + 1)):
            return port


def wait_until(ready: Callable[[], bool], what: str, seconds: float = STARTUP_SECONDS) -> None:
    """Poll `ready` every half second; raises `TimeoutError` naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {seconds:.0f} s")
        time.sleep(0.5)


def get_json(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET `url` (POST `body` as JSON when given) and decode its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def start_stack(directory: Path, sims: int, workers: int, prometheus_binary: str) -> Stack:
    """Start `simops dev` with free ports and `sims` new SIMs, and a Prometheus scraping its
    ingress and workers every `SCRAPE_SECONDS`; return once every target is up."""
    ports = dev_ports(metrics_port=free_port_range(workers))
    metrics, prometheus_port = ports["metrics-port"], free_port()
    command = ["dev", "--seed-sims", str(sims), "--workers", str(workers), *port_options(ports)]
    dev, lines = start_simops(command, directory, DEV_READY_LINE, STARTUP_SECONDS, echo=True)
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        banner = DevBanner(lines)
        if dev.poll() is not None or not banner.ready or not banner.fleet:
            raise RuntimeError(f"simops dev did not start (see {directory / '.simops'}/*.log)")
        targets = [f"127.0.0.1:{metrics + n}" for n in range(workers + 1)]
        config = directory / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML: no YAML library needed to write the config
                {
                    "global": {
                        "scrape_interval": f"{SCRAPE_SECONDS}s",
                        "evaluation_interval": f"{SCRAPE_SECONDS}s",
                    },
                    "scrape_configs": [
                        {"job_name": "simops", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )
        prometheus = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "prometheus.log").open("w"),
        )
        stack = Stack(
            directory,
            dev,
            prometheus,
            f"http://127.0.0.1:{prometheus_port}",
            f"http://127.0.0.1:{ports['emulator-port']}",
            banner.fleet,
        )

        def all_up() -> bool:
            if prometheus.poll() is not None:
                raise RuntimeError(f"prometheus exited: see {directory / 'prometheus.log'}")
            try:
                active = get_json(f"{stack.prometheus_url}/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return False
            return len(active) == len(targets) and all(t["health"] == "up" for t in active)

        wait_until(all_up, "Prometheus scraped not every target")
    except BaseException:
        interrupt(dev, *([] if prometheus is None else [prometheus]))
        raise
    print(f"Prometheus at {stack.prometheus_url} scrapes {', '.join(targets)}", flush=True)
    return stack


def run_campaign(stack: Stack, campaign_id: str, rate: float) -> str:
    """Activate every new SIM in one campaign, at `rate` requests/s, with the emulator
    injecting `FAULTS`; once it has ended, say what ran and how it ended."""
    print(f"emulator faults: {get_json(f'{stack.emulator_url}/_emulator/faults', FAULTS)}")
    start = ["campaign", "start", "--action", "activate", "--status", "new"]
    start += ["--fleet", stack.fleet, "--id", campaign_id, "--rate", f"{rate:g}"]
    stack.simops(*start)
    while True:
        time.sleep(2)
        progress = json.loads(stack.simops("campaign", "status", campaign_id, "-o", "json"))
        print(f"  {progress['phase']}: {progress['ended_rows']}/{progress['total_rows']} ended")
        if progress["phase"] in ENDED_PHASES:
            faults = ", ".join(f"{name} {value}" for name, value in FAULTS.items())
            return (
                f"simops {' '.join(start)}: {progress['phase']}, {progress['counts']}; "
                f"emulator faults: {faults}"
            )


def main() -> int:
    """Run the stack and the campaign, query every panel, draw the page and screenshot it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--sims", type=int, default=2000, help="new SIMs the campaign activates")
    parser.add_argument("--rate", type=float, default=200.0, help="the campaign's requests/s")
    parser.add_argument("--workers", type=int, default=2, help="simops dev worker processes")
    arguments = parser.parse_args()
    binaries = {name: shutil.which(name) for name in ("prometheus", "chromium", "chromedriver")}
    missing = [name for name, path in binaries.items() if path is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install prometheus chromium chromium-driver")
        return 1
    directory = Path(tempfile.mkdtemp(prefix="simops-dashboard-"))
    dashboard = json.loads(DASHBOARD.read_text())
    stack = start_stack(directory, arguments.sims, arguments.workers, str(binaries["prometheus"]))
    try:
        time.sleep(BASELINE_SECONDS)
        start = time.time() - BASELINE_SECONDS
        run = run_campaign(stack, f"dashboard-{int(start)}", arguments.rate)
        print(run, flush=True)
        time.sleep(BASELINE_SECONDS)
        end = time.time()
        # About 300 points across the width, never finer than the scrape interval.
        window = Window(start, end, max(SCRAPE_SECONDS, math.ceil((end - start) / 300)))
        panels = query_panels(
            dashboard, window, lambda e: query_range(stack.prometheus_url, e, window)
        )
    except BaseException:
        print(f"failed: the stack's state and logs are kept in {directory}", file=sys.stderr)
        raise
    finally:
        stack.stop()
    page = directory / "dashboard.html"
    page.write_text(page_html(dashboard, panels, window, run))
    screenshot(page, arguments.out, str(binaries["chromium"]), str(binaries["chromedriver"]))
    shutil.rmtree(directory)
    print(f"wrote {arguments.out}")
    for panel in panels:
        empty = f"; no data: {', '.join(panel.empty)}" if panel.empty else ""
        print(f"{panel.title}: {len(panel.series)} series{empty}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
