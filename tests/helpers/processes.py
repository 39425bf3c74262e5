"""Running `simops` commands from tests, in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SIMOPS = [sys.executable, "-m", "simops"]
"""The `simops` command of this interpreter's environment."""


def clean_environment() -> dict[str, str]:
    """This process's environment without SIMOPS_* settings (other tests may have set some):
    what `.simops/env` or the test gives is what counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}


def start_simops(
    arguments: Sequence[str],
    directory: Path,
    marker: str,
    seconds: float,
    environment: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `simops ARGUMENTS` in `directory` (stdout and stderr as one stream) and read its
    output until a line holding `marker`, the output's end, or `seconds`: the process, still
    running unless it exited, and the lines read (the caller asserts on them)."""
    process = subprocess.Popen(
        [*SIMOPS, *arguments],
        cwd=directory,
        env=clean_environment() if environment is None else environment,
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
        lines.append(line)
        if marker in line:
            break
    return process, lines
