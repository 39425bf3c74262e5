"""End to end: `simops dev` in one process, `simops sim …` in others, as a person would run them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.processes import (
    DEV_READY_LINE,
    DevBanner,
    dev_ports,
    port_options,
    run_simops,
    start_simops,
)

READY_LINE = "simops dev is running"
STARTUP_SECONDS = 120
COMMAND_SECONDS = 120


@dataclass
class DevStack:
    """A `simops dev` child process and what it printed."""

    process: subprocess.Popen[str]
    directory: Path
    banner: DevBanner
    ports: dict[str, int]

    def simops(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run one `simops` command in the stack's directory (where `.simops/env` is)."""
        return run_simops(arguments, self.directory, timeout=COMMAND_SECONDS)

    def failed(self, command: subprocess.CompletedProcess[str], lines: int = 20) -> str:
        """What a failed command printed, then the last `lines` of each of the stack's logs
        (`.simops/*.log`): whether the dev server, a worker or the ingress had stopped."""
        parts = [command.stderr]
        for log in sorted((self.directory / ".simops").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}, last {len(tail)} lines\n" + "\n".join(tail))
        return "\n".join(parts)


def child_pids(parent: int) -> set[int]:
    """The processes whose parent is `parent`, from /proc."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == parent:
            children.add(int(stat.parent.name))
    return children


def command_line(pid: int) -> str:
    """A process's command line, its arguments separated by spaces."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def survivors(pids: set[int]) -> set[int]:
    """Those of `pids` that still run (or wait, unreaped, as zombies)."""
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def start_dev(directory: Path, ports: dict[str, int], *options: str) -> DevStack:
    """Start `simops dev` in `directory` and wait for its banner."""
    process, lines = start_simops(
        ["dev", "--seed-sims", "20", *options, *port_options(ports)],
        directory,
        DEV_READY_LINE,
        STARTUP_SECONDS,
    )
    banner = [line.rstrip() for line in lines]
    assert any(READY_LINE in line for line in banner), "\n".join(banner)
    return DevStack(process, directory, DevBanner(banner), ports)


def stop_dev(stack: DevStack, signum: signal.Signals) -> tuple[int, str]:
    """Send `signum` to `simops dev`; its exit code and the rest of its output."""
    if stack.process.poll() is None:
        stack.process.send_signal(signum)
    rest, _ = stack.process.communicate(timeout=60)
    return stack.process.returncode, rest


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = start_dev(
        tmp_path_factory.mktemp("dev"), dev_ports(), "--scheduled-delay", "0.1", "--workers", "2"
    )
    yield stack
    stop_dev(stack, signal.SIGINT)


def _new_sim(stack: DevStack) -> str:
    listed = stack.simops("sims", "list", "--status", "new", "--limit", "1", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    sims = json.loads(listed.stdout)
    return str(sims[0]["sid"])


def test_dev_writes_settings_and_prints_where_everything_is(dev_stack: DevStack) -> None:
    env_file = dev_stack.directory / ".simops" / "env"
    assert env_file.exists()
    assert "SIMOPS_CALLBACK_SECRET=" in env_file.read_text()
    database = dev_stack.directory / ".simops" / "temporal.db"
    assert database.exists()
    # The dev server keeps its state in write-ahead-log mode.
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert str(dev_stack.ports["ui-port"]) in dev_stack.banner.value("Temporal Web UI")
    dashboard = dev_stack.banner.value("campaign dashboard")
    assert dashboard == f"http://127.0.0.1:{dev_stack.ports['dashboard-port']}/"
    with urllib.request.urlopen(dashboard, timeout=30) as page:
        assert "Campaigns and migrations" in page.read().decode()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except urllib.error.URLError as error:
        # Not listening yet: the banner does not wait for every process's port.
        return 0, str(error.reason)


def test_dev_serves_metrics_and_health_of_worker_and_ingress(dev_stack: DevStack) -> None:
    port = dev_stack.ports["metrics-port"]
    shown = dev_stack.banner.value("metrics, health")
    assert shown.startswith(
        f"http://127.0.0.1:{port}/metrics (ingress), ports {port + 1}-{port + 2}"
    )
    # The ingress on the port, worker N on the port + N.
    for base in (f"http://127.0.0.1:{port + n}" for n in range(3)):
        deadline = time.monotonic() + 30
        while (ready := _get(f"{base}/readyz"))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready == (200, '{"status": "ready"}'), (base, ready)
        assert _get(f"{base}/healthz")[0] == 200
        status, metrics = _get(f"{base}/metrics")
        assert status == 200
        # simops' own metrics and the Temporal SDK's, on one port.
        assert "simops_" in metrics and "temporal_request" in metrics, base
    worker_metrics = _get(f"http://127.0.0.1:{port + 1}/metrics")[1]
    assert "simops_budget_rate_limit_rps" in worker_metrics


def test_activate_then_again_is_already_converged(dev_stack: DevStack) -> None:
    sim_sid = _new_sim(dev_stack)
    fleet = dev_stack.banner.fleet

    first = dev_stack.simops("sim", "activate", sim_sid, "--fleet", fleet)
    second = dev_stack.simops("sim", "activate", sim_sid, "--fleet", fleet, "--output", "json")
    status = dev_stack.simops("sim", "status", sim_sid)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("converged:"), first.stdout
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["outcome"] == "already_converged"
    assert "active" in status.stdout and "no operation running" in status.stdout


def test_a_refused_change_exits_1_with_one_line(dev_stack: DevStack) -> None:
    sim_sid = _new_sim(dev_stack)

    refused = dev_stack.simops("sim", "reactivate", sim_sid)

    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "83010" in refused.stderr and "Traceback" not in refused.stderr


def test_unknown_sim_exits_2_without_traceback(dev_stack: DevStack) -> None:
    result = dev_stack.simops("sim", "deactivate", "no-such-sim")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-sim" in result.stderr


def test_no_configuration_exits_2_naming_the_settings(tmp_path: Path) -> None:
    result = run_simops(["sim", "activate", "HS" + "0" * 32], tmp_path, timeout=COMMAND_SECONDS)

    assert result.returncode == 2
    assert "SIMOPS_" in result.stderr
    assert "Traceback" not in result.stderr


def test_campaign_dry_run_then_start_watch_report_and_duplicate_id(dev_stack: DevStack) -> None:
    fleet = dev_stack.banner.fleet
    new_before = len(
        json.loads(dev_stack.simops("sims", "list", "--status", "new", "-o", "json").stdout)
    )
    base = ["campaign", "start", "--action", "activate", "--status", "new", "--fleet", fleet]

    dry = dev_stack.simops(*base, "--dry-run")
    still_new = json.loads(dev_stack.simops("sims", "list", "--status", "new", "-o", "json").stdout)
    started = dev_stack.simops(*base, "--id", "cli-campaign", "--watch")
    again = dev_stack.simops(*base, "--id", "cli-campaign")
    report = dev_stack.simops("campaign", "report", "cli-campaign", "--format", "json")
    listed = dev_stack.simops("campaign", "list")

    assert dry.returncode == 0, dry.stderr
    assert str(new_before) in dry.stdout
    assert len(still_new) == new_before
    assert started.returncode == 0, started.stderr
    assert "completed" in started.stdout
    assert again.returncode == 0 and "not starting a second" in again.stdout
    rows = json.loads(report.stdout)
    assert len(rows) == new_before
    assert {row["outcome"] for row in rows} == {"converged"}
    assert "cli-campaign" in listed.stdout


def test_campaign_bad_input_is_one_line_exit_2(dev_stack: DevStack, tmp_path: Path) -> None:
    missing = dev_stack.simops(
        "campaign", "start", "--action", "activate", "--from-file", "nope.csv"
    )
    both = dev_stack.simops(
        "campaign", "start", "--action", "activate", "--from-file", "x", "--status", "new"
    )
    threshold = dev_stack.simops(
        "campaign", "start", "--action", "deactivate", "--status", "active", "--max-failures", "x%"
    )
    unknown = dev_stack.simops("campaign", "report", "no-such-campaign")

    for result in (missing, both, threshold, unknown):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: "), result.stderr


def test_workers_run_in_processes_of_their_own(dev_stack: DevStack) -> None:
    children = child_pids(dev_stack.process.pid)
    workers = {pid for pid in children if command_line(pid).endswith("-m simops worker ")}
    others = {command_line(pid) for pid in children - workers}

    assert len(workers) == 2
    assert any("simops callbacks" in line for line in others), others
    assert any("simops.emulator" in line for line in others), others
    assert any("start-dev" in line for line in others), others
    logs = dev_stack.directory / ".simops"
    # The banner comes once the workers started, not once they poll: give them time to connect.
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and not all(
        "worker polling" in (logs / f"worker-{number}.log").read_text() for number in (1, 2)
    ):
        time.sleep(0.2)
    for number in (1, 2):
        assert "worker polling" in (logs / f"worker-{number}.log").read_text()


def test_ctrl_c_stops_every_child(dev_stack: DevStack) -> None:
    children = child_pids(dev_stack.process.pid)

    code, _ = stop_dev(dev_stack, signal.SIGINT)

    assert code == 0
    # Temporal, the emulator, the ingress, 2 workers and the dashboard.
    assert len(children) == 6
    assert not survivors(children)
    port = dev_stack.ports["temporal-port"]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the Temporal dev server still runs"


def test_sigterm_then_restart_resumes_and_a_dead_worker_stops_it_loudly(tmp_path: Path) -> None:
    ports = dev_ports()
    # Long enough that the campaign is still running when its status is read, even on a
    # loaded machine where a command takes seconds.
    first = start_dev(tmp_path, ports, "--scheduled-delay", "8", "--workers", "1")
    fleet = first.banner.fleet
    started = first.simops(
        "campaign", "start", "--action", "activate", "--status", "new", "--fleet", fleet,
        "--id", "resumed",
    )  # fmt: skip
    assert started.returncode == 0, first.failed(started)
    running = json.loads(first.simops("campaign", "status", "resumed", "-o", "json").stdout)
    assert running["phase"] != "completed"  # else the restart would have nothing to resume
    children = child_pids(first.process.pid)

    code, _ = stop_dev(first, signal.SIGTERM)

    assert code == 0
    assert not survivors(children)
    second = start_dev(tmp_path, ports, "--workers", "1")
    try:
        watched = second.simops("campaign", "status", "resumed", "--watch")
        report = json.loads(
            second.simops("campaign", "report", "resumed", "--format", "json").stdout
        )
        assert watched.returncode == 0, second.failed(watched)
        assert "completed" in watched.stdout
        assert len(report) == 20
        assert {row["outcome"] for row in report} == {"converged"}
        children = child_pids(second.process.pid)
        worker = next(pid for pid in children if "simops worker" in command_line(pid))

        os.kill(worker, signal.SIGKILL)
        output, _ = second.process.communicate(timeout=60)

        assert second.process.returncode == 1
        assert "error: the worker was killed by SIGKILL" in output
        assert "Traceback" not in output
        assert not survivors(children)
    finally:
        stop_dev(second, signal.SIGINT)


def test_a_closed_terminal_stops_every_child(tmp_path: Path) -> None:
    stack = start_dev(tmp_path, dev_ports(), "--workers", "1")
    children = child_pids(stack.process.pid)

    code, _ = stop_dev(stack, signal.SIGHUP)

    assert code == 0
    assert len(children) == 5
    assert not survivors(children)


def still_running(pids: set[int]) -> set[int]:
    """Those of `pids` that run: neither gone nor ended and waiting to be reaped (a zombie,
    which whoever adopted it may never reap)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


@pytest.mark.skipif(
    shutil.which("setpriv") is None,
    reason="no setpriv (util-linux): children cannot be bound to their parent's death",
)
def test_a_killed_dev_leaves_no_child_running(tmp_path: Path) -> None:
    """SIGKILL runs no code in `simops dev`: its children end anyway (the parent-death signal
    set by `simops.runtime.child_processes`), freeing their ports for the next start."""
    stack = start_dev(tmp_path, dev_ports(), "--workers", "1")
    children = child_pids(stack.process.pid)
    commands = {pid: command_line(pid) for pid in children}

    stack.process.kill()
    stack.process.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while still_running(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = still_running(children)
    for pid in left:
        # Leave nothing behind for the next test, whatever this one finds.
        os.kill(pid, signal.SIGKILL)

    assert len(children) == 5, commands
    assert not left, {pid: commands[pid] for pid in left}
