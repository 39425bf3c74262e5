"""Driving simops through its command line, in child processes, as a person would: the tests,
the benchmarks and the tools (`tools/demo.py`, `tools/render_dashboard.py`) alike.

`run_simops` runs one command to its end, `start_simops` starts a long-running one (`simops
dev`) and reads its output up to a marker, `DevBanner` reads what `simops dev` printed as it
started, and `simops` runs one command from a running event loop (the benchmarks').
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from simops.emulator.server import EmulatorAccount
from simops.runtime.ports import free_port

SIMOPS = [sys.executable, "-m", "simops"]
"""The `simops` command of this interpreter's environment."""
DEV_READY_LINE = "Try, in another terminal"
"""The line that ends `simops dev`'s banner: the stack is up."""
DEV_PORTS = (
    "temporal-port",
    "ui-port",
    "emulator-port",
    "callback-port",
    "metrics-port",
    "dashboard-port",
)
"""The options of `simops dev` naming a port it binds (the first metrics port: a worker's are
the ports above it)."""


def clean_environment() -> dict[str, str]:
    """This process's environment without SIMOPS_* settings (other tests may have set some):
    what `.simops/env` or the test gives is what counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}


def api_settings(api_url: str, account: EmulatorAccount, campaigns: Path) -> dict[str, str]:
    """The SIMOPS_* settings of a process acting as `account` (its Twilio credentials) on the
    emulator's API at `api_url`, with its campaigns stored in the directory `campaigns`."""
    return {
        "SIMOPS_API_URL": api_url,
        "SIMOPS_TWILIO_ACCOUNT_SID": account.account_sid,
        "SIMOPS_TWILIO_AUTH_TOKEN": account.auth_token,
        "SIMOPS_CAMPAIGN_DIR": str(campaigns),
    }


def dev_ports(**chosen: int) -> dict[str, int]:
    """A port for each of `DEV_PORTS`: those in `chosen` (`metrics_port=…`) as given, a free
    port for the others."""
    return {name: chosen.get(name.replace("-", "_")) or free_port() for name in DEV_PORTS}


def port_options(ports: Mapping[str, int]) -> list[str]:
    """`simops dev`'s options binding `ports` (`dev_ports`)."""
    return [f"--{name}={port}" for name, port in ports.items()]


def run_simops(
    arguments: Sequence[str],
    directory: Path | None = None,
    environment: Mapping[str, str] | None = None,
    *,
    echo: bool = False,
    capture: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `simops ARGUMENTS` to its end in `directory` (this process's by default) with
    `environment` (by default `clean_environment()`), its output captured unless `capture` is
    false (a progress bar for the terminal); with `echo`, first print the command the way a
    person would have typed it."""
    if echo:
        print(f"$ simops {' '.join(arguments)}", flush=True)
    return subprocess.run(
        [*SIMOPS, *arguments],
        cwd=directory,
        env=clean_environment() if environment is None else dict(environment),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_simops(
    arguments: Sequence[str],
    directory: Path,
    marker: str,
    seconds: float,
    environment: Mapping[str, str] | None = None,
    *,
    echo: bool = False,
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `simops ARGUMENTS` in `directory` (stdout and stderr as one stream) and read its
    output until a line holding `marker`, the output's end, or `seconds`: the process, still
    running unless it exited, and the lines read (the caller asserts on them). With `echo`,
    each line is printed as it is read."""
    process = subprocess.Popen(
        [*SIMOPS, *arguments],
        cwd=directory,
        env=clean_environment() if environment is None else dict(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if echo:
            print(line, end="", flush=True)
        lines.append(line)
        if marker in line:
            break
    return process, lines


@dataclass(frozen=True)
class DevBanner:
    """What `simops dev` printed as it started: `label: value` lines, `DEV_READY_LINE` last."""

    lines: Sequence[str]

    @property
    def ready(self) -> bool:
        """Whether the banner went as far as `DEV_READY_LINE`: the stack is up."""
        return any(line.startswith(DEV_READY_LINE) for line in self.lines)

    def value(self, label: str) -> str:
        """The value of the banner's line `label: value` ("" when it has none)."""
        for line in self.lines:
            name, _, value = line.strip().partition(":")
            if name == label:
                return value.strip()
        return ""

    @property
    def fleet(self) -> str:
        """The first Fleet of the parent account, which the seeded SIMs can be activated into."""
        return self.value("fleets (parent)").split(",")[0].strip()


@dataclass
class CliStack:
    """Where to run `simops` commands against a stack, and its processes."""

    directory: Path
    environment: dict[str, str]
    fleet: str
    pids: Callable[[], dict[str, int]]


async def simops(stack: CliStack, *arguments: str) -> str:
    """Run one `simops` command against `stack`; its stdout, or exit with what it printed.

    A caller that stops waiting (a deadline) kills the command: none is left running."""
    process = await asyncio.create_subprocess_exec(
        *SIMOPS,
        *arguments,
        cwd=stack.directory,
        env=stack.environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise SystemExit(f"simops {' '.join(arguments)}: exit {process.returncode}: {err.decode()}")
    return out.decode()
