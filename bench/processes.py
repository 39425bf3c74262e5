"""The benchmarks' process stack: `simops.process_stack` on free ports, with a fresh task queue,
and what the benchmarks measure of its processes (CPU time, peak memory).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from simops.emulator.process import EmulatorProcess
from simops.localstack import free_port
from simops.process_stack import ProcessStack, TemporalOptions
from simops.process_stack import process_stack as start_process_stack

__all__ = ["ProcessStack", "cpu_seconds", "peak_rss_mib", "process_stack"]


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


def _environment(
    emulator: EmulatorProcess, temporal: TemporalOptions, overrides: dict[str, str]
) -> dict[str, str]:
    callback_port = free_port()
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
            "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal.port}",
            "SIMOPS_TASK_QUEUE": f"bench-{uuid.uuid4()}",
            "SIMOPS_CALLBACK_BASE_URL": f"http://127.0.0.1:{callback_port}",
            "SIMOPS_CALLBACK_PORT": str(callback_port),
            "SIMOPS_CAMPAIGN_DIR": str(temporal.directory / "campaigns"),
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
    temporal_options = TemporalOptions(directory=directory, port=free_port(), ui_port=free_port())
    async with start_process_stack(
        temporal_options,
        emulator_args,
        lambda emulator: _environment(emulator, temporal_options, settings_overrides or {}),
    ) as stack:
        yield stack
