"""`make demo`: start `simops dev`, activate one SIM, then every `new` SIM in one campaign.

The campaign shows its progress bar, then the report's summary; the stack keeps running for
the Web UI until Ctrl-C.

Everything a newcomer sees is the real thing: the same commands they would type themselves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

SIMOPS = [sys.executable, "-m", "simops"]


def simops(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run one simops command and show it the way a person would have typed it."""
    print(f"$ simops {' '.join(arguments)}", flush=True)
    result = subprocess.run([*SIMOPS, *arguments], capture_output=True, text=True, check=False)
    print(result.stdout + result.stderr, end="", flush=True)
    return result


def main() -> int:
    """Start the stack, run the demo commands, and wait for Ctrl-C."""
    dev = subprocess.Popen([*SIMOPS, "dev"], stdout=subprocess.PIPE, text=True)
    assert dev.stdout is not None
    fleet = ""
    ui_url = ""
    for line in dev.stdout:
        print(line, end="", flush=True)
        label, _, value = line.strip().partition(":")
        if label == "fleets (parent)":
            fleet = value.split(",")[0].strip()
        if label == "Temporal Web UI":
            ui_url = value.strip()
        if line.startswith("Try, in another terminal"):
            break
    if dev.poll() is not None:
        return dev.returncode or 1
    try:
        listed = simops("sims", "list", "--status", "new", "--limit", "1", "-o", "json")
        for sim in json.loads(listed.stdout or "[]"):
            simops("sim", "activate", sim["sid"], "--fleet", fleet)
        campaign_id = f"demo-{int(time.time())}"
        start = ["campaign", "start", "--action", "activate", "--status", "new"]
        start += ["--fleet", fleet, "--id", campaign_id, "--watch"]
        print(f"$ simops {' '.join(start)}", flush=True)
        subprocess.run([*SIMOPS, *start], check=False)
        report = f".simops/{campaign_id}.csv"
        simops("campaign", "report", campaign_id, "--output", report)
        print(f"report: {report}\nTemporal Web UI: {ui_url}", flush=True)
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
