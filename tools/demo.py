"""`make demo`: start `simops dev`, activate one SIM, then every `new` SIM in one campaign.

The campaign shows its progress bar, then the report's summary; the stack keeps running for
the Web UI until Ctrl-C.

Everything a newcomer sees is the real thing: the same commands they would type themselves.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers.processes import DEV_READY_LINE, DevBanner, run_simops, start_simops


def simops(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run one simops command and show it the way a person would have typed it."""
    result = run_simops(arguments, environment=os.environ, echo=True)
    print(result.stdout + result.stderr, end="", flush=True)
    return result


def main() -> int:
    """Start the stack, run the demo commands, and wait for Ctrl-C."""
    dev, lines = start_simops(["dev"], Path.cwd(), DEV_READY_LINE, math.inf, os.environ, echo=True)
    assert dev.stdout is not None
    banner = DevBanner(lines)
    if dev.poll() is not None:
        return dev.returncode or 1
    try:
        listed = simops("sims", "list", "--status", "new", "--limit", "1", "-o", "json")
        for sim in json.loads(listed.stdout or "[]"):
            simops("sim", "activate", sim["sid"], "--fleet", banner.fleet)
        campaign_id = f"demo-{int(time.time())}"
        start = ["campaign", "start", "--action", "activate", "--status", "new"]
        start += ["--fleet", banner.fleet, "--id", campaign_id, "--watch"]
        run_simops(start, environment=os.environ, echo=True, capture=False)
        report = f".simops/{campaign_id}.csv"
        simops("campaign", "report", campaign_id, "--output", report)
        print(f"report: {report}\nTemporal Web UI: {banner.value('Temporal Web UI')}", flush=True)
        print("\nThe stack keeps running: try the commands above; Ctrl-C stops it.", flush=True)
        for line in dev.stdout:
            print(line, end="", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)
        dev.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
