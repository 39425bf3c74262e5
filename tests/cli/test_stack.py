"""`simops worker` and `simops callbacks` as processes: starting before Temporal, and refusing to
verify nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from simops.runtime.ports import free_port
from tests.helpers.processes import SIMOPS

ACCOUNT = "AC" + "a" * 32


def _environment(**settings: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}
    environment.update(
        {
            # Nobody listens there: Temporal is "not up yet".
            "SIMOPS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "SIMOPS_CALLBACK_PORT": str(free_port()),
            "SIMOPS_API_URL": "http://127.0.0.1:9/v1",
            "SIMOPS_TWILIO_ACCOUNT_SID": ACCOUNT,
            "SIMOPS_TWILIO_AUTH_TOKEN": "token",
            "SIMOPS_CALLBACK_SECRET": "secret",
            **settings,
        }
    )
    return environment


@pytest.mark.parametrize("command", ["worker", "callbacks"])
def test_a_process_started_before_temporal_waits_with_one_line_per_attempt(
    command: str, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [*SIMOPS, command],
        cwd=tmp_path,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    waiting: list[str] = []
    deadline = time.monotonic() + 60
    while len(waiting) < 3 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        if "waiting for Temporal" in line:
            waiting.append(line)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)

    assert len(waiting) == 3, rest
    assert [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in waiting] == [
        0.5,
        1.0,
        2.0,
    ]
    assert "Traceback" not in rest
    assert process.returncode == 0


def test_callbacks_refuses_to_start_when_it_could_not_verify_an_account(tmp_path: Path) -> None:
    refused = subprocess.run(
        [*SIMOPS, "callbacks"],
        cwd=tmp_path,
        env=_environment(SIMOPS_TWILIO_AUTH_TOKEN="", SIMOPS_KORE_WEBHOOK_SECRETS="{}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert refused.returncode == 2
    assert refused.stderr.startswith("error: no provider secret for account " + ACCOUNT)
    assert "--allow-unsigned" in refused.stderr and "Traceback" not in refused.stderr
