"""The stack in separate processes, as the benchmarks and the chaos tests run it:
`simops.devstack.processes` on free ports, with a fresh task queue, and what the benchmarks
measure of its processes (CPU time, peak memory).

Each process writes its output to a log file in the stack's directory (`log_tails` reads their
ends), and a stack a test abandoned (pytest-timeout) can still be killed (`kill_open_stacks`).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from simops.core.sim import SimStatus
from simops.devstack.processes import ProcessStack, TemporalOptions
from simops.devstack.processes import process_stack as start_process_stack
from simops.emulator.process import EmulatorProcess
from simops.runtime.ports import free_port
from simops.supersim.client import SuperSimClient
from tests.helpers.processes import api_settings, clean_environment

__all__ = [
    "ProcessStack",
    "campaign_dir",
    "cpu_seconds",
    "kill_open_stacks",
    "log_tails",
    "new_sims",
    "peak_rss_mib",
    "process_stack",
    "writes_per_sim",
]

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


def _status_mib(pid: int, field: str) -> float:
    """A memory figure of `/proc/PID/status` (kB there), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    """The resident memory (VmRSS) of a live process now, in MiB."""
    return _status_mib(pid, "VmRSS")


def reset_peak_rss(pid: int) -> bool:
    """Reset a live process's peak resident memory to its current one; whether the kernel let
    us (`/proc/PID/clear_refs` takes root)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def new_sims(stack: ProcessStack, count: int) -> list[str]:
    """SIDs of `count` new SIMs."""
    async with SuperSimClient.from_settings(stack.settings) as api:
        return [sim.sid async for sim in api.list_sims(status=SimStatus.NEW, limit=count)]


async def writes_per_sim(stack: ProcessStack) -> dict[str, int]:
    """The state-changing writes the emulator saw each SIM get since it started."""
    stats = await stack.emulator_json("GET", "/_emulator/stats")
    per_sim: dict[str, int] = stats["state_changing_writes"]["per_sim"]
    return per_sim


def _environment(
    emulator: EmulatorProcess, temporal: TemporalOptions, overrides: dict[str, str]
) -> dict[str, str]:
    callback_port = free_port()
    environment = clean_environment()
    environment.update(
        api_settings(emulator.api_url, emulator.parent, campaign_dir(temporal.directory))
    )
    environment.update(
        {
            "SIMOPS_KORE_WEBHOOK_SECRETS": json.dumps(
                {a.account_sid: a.webhook_secret for a in emulator.accounts}
            ),
            "SIMOPS_TWILIO_AUTH_TOKENS": json.dumps(
                {a.account_sid: a.auth_token for a in emulator.accounts}
            ),
            "SIMOPS_CALLBACK_SECRET": uuid.uuid4().hex,
            "SIMOPS_API_MAX_CONCURRENCY": "200",
            "SIMOPS_API_MAX_RPS": "5000",
            "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal.port}",
            "SIMOPS_TEMPORAL_ENVCONFIG": "false",
            "SIMOPS_TASK_QUEUE": f"bench-{uuid.uuid4()}",
            "SIMOPS_CALLBACK_BASE_URL": f"http://127.0.0.1:{callback_port}",
            "SIMOPS_CALLBACK_PORT": str(callback_port),
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
    workers: int = 1,
) -> AsyncIterator[ProcessStack]:
    """Start the dev server, the emulator, the ingress and `workers` workers (0: the caller
    starts its own); stop all on exit."""
    temporal_options = TemporalOptions(
        directory=directory, port=free_port(), ui_port=free_port(), metrics_port=free_port()
    )
    async with start_process_stack(
        temporal_options,
        emulator_args,
        lambda emulator: _environment(emulator, temporal_options, settings_overrides or {}),
        workers=workers,
    ) as stack:
        _open_stacks.append(stack)
        try:
            yield stack
        finally:
            # `kill_open_stacks` may have dropped it already.
            with contextlib.suppress(ValueError):
                _open_stacks.remove(stack)
