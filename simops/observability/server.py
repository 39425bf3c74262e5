"""The observability port of a worker or ingress process: `/metrics`, `/healthz`, `/readyz`.

`/metrics` serves two registries as one Prometheus text: simops' own (prometheus_client) and
Temporal's SDK metrics. The SDK's runtime telemetry can only publish through its own Prometheus
HTTP server, so that server listens on a loopback port nobody else needs to know, and each
scrape of `/metrics` reads it and appends it. The alternative, the SDK's `MetricBuffer`, hands
over raw updates that simops would have to re-aggregate (histogram buckets included) and drain
on a timer; reading the SDK's own exposition keeps its names, types and buckets exactly as
Temporal documents them, at the cost of one loopback request per scrape.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from simops.observability.health import Readiness
from simops.runtime.ports import free_port

log = logging.getLogger(__name__)

SDK_SCRAPE_TIMEOUT_SECONDS = 5.0


def sdk_metrics_runtime() -> tuple[Runtime, str]:
    """A Temporal runtime publishing the SDK's metrics on a loopback port, and their URL."""
    address = f"127.0.0.1:{free_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    return runtime, f"http://{address}/metrics"


def install_sdk_metrics() -> str:
    """Make every Temporal client this process creates from now on publish the SDK's metrics;
    their URL. Call it before the first client: the default runtime is set once per process."""
    runtime, url = sdk_metrics_runtime()
    Runtime.set_default(runtime)
    return url


class ObservabilityApp:
    """The aiohttp application of the observability port."""

    def __init__(self, readiness: Readiness, sdk_metrics_url: str | None) -> None:
        self._readiness = readiness
        self._sdk_metrics_url = sdk_metrics_url
        self._session: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        """`/metrics`, `/healthz` and `/readyz`."""
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/healthz", self._healthz)
        application.router.add_get("/readyz", self._readyz)
        application.on_cleanup.append(self._close)
        return application

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _sdk_metrics(self) -> bytes:
        if self._sdk_metrics_url is None:
            return b""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=SDK_SCRAPE_TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.get(self._sdk_metrics_url) as response:
                response.raise_for_status()
                return await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            # simops' own metrics are still worth a scrape: say what is missing, serve the rest.
            log.warning("Temporal SDK metrics unavailable this scrape: %s", error)
            return b""

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(REGISTRY) + await self._sdk_metrics()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        # Answering at all is the check: this handler runs on the process's event loop.
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        problems = await self._readiness.problems()
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})


@asynccontextmanager
async def serve_observability(
    host: str, port: int, readiness: Readiness, sdk_metrics_url: str | None
) -> AsyncIterator[None]:
    """Serve the observability port for the body."""
    runner = web.AppRunner(ObservabilityApp(readiness, sdk_metrics_url).app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("metrics and health on http://%s:%s/metrics, /healthz, /readyz", host, port)
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def observed_process(host: str, port: int | None) -> AsyncIterator[Readiness]:
    """The readiness of this process, served with its metrics on `host:port` when `port` is
    set (SIMOPS_METRICS_PORT). Enter it before the process creates any Temporal client."""
    readiness = Readiness()
    if port is None:
        yield readiness
        return
    sdk_metrics_url = install_sdk_metrics()
    async with serve_observability(host, port, readiness, sdk_metrics_url):
        yield readiness
