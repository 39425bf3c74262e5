"""`make demo`: start `simops dev`, activate a few SIMs through the CLI, then keep the stack up.

Everything a newcomer sees is the real thing: the same commands they would type themselves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

SIMOPS = [sys.executable, "-m", "simops"]
DEMO_ACTIVATIONS = 3


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
    for line in dev.stdout:
        print(line, end="", flush=True)
        if line.strip().startswith("fleets (parent):"):
            fleet = line.split(":", 1)[1].split(",")[0].strip()
        if line.startswith("Try, in another terminal"):
            break
    if dev.poll() is not None:
        return dev.returncode or 1
    try:
        listed = simops(
            "sims", "list", "--status", "new", "--limit", str(DEMO_ACTIVATIONS), "-o", "json"
        )
        for sim in json.loads(listed.stdout or "[]"):
            simops("sim", "activate", sim["sid"], "--fleet", fleet)
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
