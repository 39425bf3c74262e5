"""Every `simops` command of the README's code blocks, run against `simops dev` as a user would.

The commands are read from the README when the tests are collected: one test per command, in
the README's order. A synopsis is expanded into the commands it stands for (`[--watch]`: without
it and with it; `csv|json`: each; `pause X | resume X`: each sub-command), and placeholders
become real values of the running stack (`SIM`, `FLEET`, `AC…`, the files it names). A command
passes when it exits 0; a long-running one (`simops worker`, `callbacks`, `emulator`, `serve`)
when it comes up and stops cleanly on Ctrl-C. A failure prints the command, its exit code and
output.

Values chosen where the README's cannot be taken literally:
- `pause`, `resume` and `cancel` need a campaign (migration) that is still running, and the
  README's `launch-1` and `customer-7` were followed to their end with `--watch`: those commands
  act on a campaign and a migration this module starts at 1 request/s instead; `retry` on them
  once cancelled and ended (their `cancelled` rows are what it retries).
- `simops callbacks` listens on a free port: `simops dev`'s ingress holds the configured one;
  `simops serve` too, since another process of the machine may hold its default.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simops.emulator.cli import READY_LINE_PREFIX
from simops.runtime.ports import free_port
from tests.helpers.processes import (
    DEV_READY_LINE,
    clean_environment,
    dev_ports,
    port_options,
    run_simops,
    start_simops,
)

pytestmark = pytest.mark.timeout(900)

README = Path(__file__).resolve().parents[2] / "README.md"
STARTUP_SECONDS = 120
COMMAND_SECONDS = 180
CAMPAIGN_SIMS = 20
SLOW_SIMS = 40
"""SIMs of the campaigns kept running for pause/resume/cancel (at 1 request/s: 40 s or more)."""

LONG_RUNNING = {
    "worker": "worker polling task queue",
    "callbacks": "callback ingress on",
    "emulator": READY_LINE_PREFIX,
    "serve": "JSON API:",
}
"""Commands that run until stopped, and the line that says they came up."""

RUNNING_CAMPAIGN = "readme-running-campaign"
RUNNING_MIGRATION = "readme-running-migration"


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split on `separator` outside brackets and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            start = index + len(separator)
            index = start
            continue
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _choices(text: str) -> list[str]:
    """`--format csv|json` → `--format csv`, `--format json` (one `a|b` word at most)."""
    words = text.split(" ")
    for position, word in enumerate(words):
        if "|" in word and not word.startswith('"'):
            return [
                " ".join([*words[:position], choice, *words[position + 1 :]])
                for choice in word.split("|")
            ]
    return [text]


GROUP = re.compile(r"\[((?:[^\[\]\"]|\"[^\"]*\")*)\]")


def expand(synopsis: str) -> list[str]:
    """The commands a README line stands for: without its optional parts, then with each one."""
    alternatives = _split_top(synopsis, " | ")
    if len(alternatives) > 1:
        prefix = " ".join(alternatives[0].split()[:2])
        commands = [alternatives[0], *(f"{prefix} {rest}" for rest in alternatives[1:])]
        return [command for each in commands for command in expand(each)]
    groups = list(GROUP.finditer(synopsis))
    base = " ".join(GROUP.sub("", synopsis).split())
    commands = [base]
    for group in groups:
        without_others = synopsis[: group.start()] + "\0" + synopsis[group.end() :]
        without_others = GROUP.sub("", without_others)
        for option in _split_top(group.group(1), " | "):
            for choice in _choices(option):
                commands.append(" ".join(without_others.replace("\0", choice).split()))
    return [" ".join(choice.split()) for command in commands for choice in _choices(command)]


def readme_commands() -> list[str]:
    """Every `simops` command of the README's code blocks (Python blocks aside), expanded."""
    commands: list[str] = []
    fence: str | None = None
    pending = ""
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence is None or fence == "python":
            continue
        text = pending + line.split("  #", 1)[0].strip()
        if text.endswith("\\"):
            pending = text[:-1]
            continue
        pending = ""
        if text.startswith("simops "):
            commands += [command for command in expand(text) if command not in commands]
    return commands


COMMANDS = readme_commands()


@dataclass
class Stack:
    """`simops dev` running in `directory`, and the values the README's placeholders take."""

    process: subprocess.Popen[str]
    directory: Path
    parent: str
    child: str
    fleet_sid: str
    sims: Iterator[str]
    iccid: str
    names: Iterator[str] = field(default_factory=lambda: (f"readme-{n}" for n in itertools.count()))
    current_sim: str = ""

    def run(
        self, *arguments: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_simops(
            arguments,
            self.directory,
            {**clean_environment(), **(env or {})},
            timeout=COMMAND_SECONDS,
        )


def _checked(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`simops dev` with free ports, the files the README names, and two slow campaigns."""
    directory = tmp_path_factory.mktemp("readme")
    process, banner = start_simops(
        ["dev", "--seed-sims", "400", "--scheduled-delay", "0.1", *port_options(dev_ports())],
        directory,
        DEV_READY_LINE,
        STARTUP_SECONDS,
    )
    assert any(DEV_READY_LINE in line for line in banner), "".join(banner)
    try:
        yield _prepared(process, directory)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)


def _prepared(process: subprocess.Popen[str], directory: Path) -> Stack:
    probe = Stack(process, directory, "", "", "", iter(()), "")
    env = json.loads(_checked(probe.run("sims", "list", "--status", "new", "-o", "json")))
    new_sids = [sim["sid"] for sim in env]
    parent = env[0]["account_sid"]
    fleets = json.loads(_checked(probe.run("fleets", "list", "-o", "json")))
    settings = (directory / ".simops" / "env").read_text()
    child = next(sid for sid in re.findall(r"AC[0-9a-f]{32}", settings) if sid != parent)
    campaign_sims, slow_sims, slow_moves = (
        new_sids[:CAMPAIGN_SIMS],
        new_sids[CAMPAIGN_SIMS : CAMPAIGN_SIMS + SLOW_SIMS],
        new_sids[CAMPAIGN_SIMS + SLOW_SIMS : CAMPAIGN_SIMS + 2 * SLOW_SIMS],
    )
    (directory / "sims.csv").write_text("sim\n" + "\n".join(campaign_sims) + "\n")
    renames = [f"{sid},readme-renamed-{n}" for n, sid in enumerate(campaign_sims)]
    (directory / "names.csv").write_text("sim,unique_name\n" + "\n".join(renames) + "\n")
    (directory / "slow.csv").write_text("\n".join(slow_sims) + "\n")
    (directory / "slow-moves.csv").write_text("\n".join(slow_moves) + "\n")
    for log in ("worker.log", "ingress.log"):
        (directory / log).write_text("2026-11-27 12:00:00 INFO simops.worker started\n")
    first = next(iter(new_sids[CAMPAIGN_SIMS + 2 * SLOW_SIMS :]))
    iccid = json.loads(_checked(probe.run("sims", "get", first, "-o", "json")))["iccid"]
    return Stack(
        process,
        directory,
        parent=parent,
        child=child,
        fleet_sid=next(fleet["sid"] for fleet in fleets if fleet["unique_name"] == "iot-eu"),
        sims=iter(new_sids[CAMPAIGN_SIMS + 2 * SLOW_SIMS + 1 :]),
        iccid=iccid,
        current_sim=first,
    )


def start_slowly(stack: Stack, group: str, running: str) -> None:
    """Start the campaign (or migration) `running` that `pause`, `resume` and `cancel` act on,
    at 1 request/s so that it is still running when they do."""
    if group == "campaign":
        arguments = ["--action", "activate", "--from-file", "slow.csv", "--fleet", "default"]
    else:
        arguments = ["--to-account", stack.child, "--from-file", "slow-moves.csv"]
    _checked(stack.run(group, "start", *arguments, "--id", running, "--rate", "1"))


def is_running(stack: Stack, group: str, running: str) -> bool:
    """Whether the campaign (or migration) still runs and is not about to end: a cancel may have
    ended it already, or left it `stopping` for a moment."""
    status = json.loads(_checked(stack.run(group, "status", running, "-o", "json")))
    return status["phase"] in ("queued", "preparing", "running", "paused", "waiting")


def substitute(stack: Stack, command: str) -> list[str]:
    """The README command with every placeholder replaced by a value of the stack."""
    words = shlex.split(command)
    verb = words[1:3]
    if verb[0] == "sim" and (verb[1] == "move" or "--ready" in words):
        # Each of these needs a SIM still `new`: moved or made ready, it cannot be again.
        sim = next(stack.sims)
    else:
        sim = stack.current_sim
    if verb[0] in ("campaign", "migrate") and verb[1] in ("pause", "resume", "cancel", "retry"):
        running = RUNNING_CAMPAIGN if verb[0] == "campaign" else RUNNING_MIGRATION
        if verb[1] == "pause":
            start_slowly(stack, verb[0], running)
        if verb[1] == "cancel" and not is_running(stack, verb[0], running):
            # The README cancels twice (with and without a reason): the first cancel may have
            # ended the campaign already, so the second one gets a running one of its own.
            running = f"{running}-{next(stack.names)}"
            start_slowly(stack, verb[0], running)
        if verb[1] == "retry":
            # What the README retries is the campaign it cancelled, once it has ended.
            _checked(stack.run(verb[0], "status", running, "--watch"))
        words = [running if word in ("launch-1", "customer-7") else word for word in words]
    if words[1:3] == ["migrate", "…"]:
        words[2] = "list"
    accounts = {
        "--to-account": stack.child,
        "--from-account": stack.parent,
        "--account": stack.child,
    }
    values = {
        "SIM": sim,
        "FLEET": "iot-eu",
        "F": "iot-eu",
        "NAME": "iot-eu",
        "SID": stack.fleet_sid,
        "NEW-NAME": next(stack.names),
        "ICCID": stack.iccid,
        "N": "5",
        "/var/log/simops/worker.log": "worker.log",
        "/var/log/simops/ingress.log": "ingress.log",
    }
    substituted = []
    for previous, word in zip(["", *words], words, strict=False):
        if word == "AC…" and previous == "set-limit":
            # The account the README stack's credentials use: its budget is the one that counts.
            word = stack.parent
        elif word == "AC…":
            word = accounts[previous]
        elif word == "…" and previous == "--reason":
            word = "checked by the README test"
        substituted.append(values.get(word, word))
    leftover = [word for word in substituted if "…" in word or re.fullmatch(r"[A-Z][A-Z-]*", word)]
    assert not leftover, f"placeholders left in {command!r}: {leftover}"
    return substituted[1:]


def _failure(command: list[str], code: int | None, out: str, err: str) -> str:
    return f"`simops {shlex.join(command)}` exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"


def _comes_up(stack: Stack, command: list[str]) -> None:
    """Start a long-running command, wait for the line that says it serves, stop it with Ctrl-C."""
    env = {**clean_environment(), "SIMOPS_CALLBACK_PORT": str(free_port())}
    if command[0] == "serve" and "--port" not in command:
        # Another process of this machine may hold the API's default port.
        command = [*command, "--port", str(free_port())]
    process, seen = start_simops(
        command, stack.directory, LONG_RUNNING[command[0]], STARTUP_SECONDS, env
    )
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert any(LONG_RUNNING[command[0]] in line for line in seen), _failure(
        command, process.returncode, output, ""
    )
    assert process.returncode == 0, _failure(command, process.returncode, output, "")
    assert "Traceback" not in output, output


def test_the_readme_has_commands_of_every_group() -> None:
    groups = {command.split()[1] for command in COMMANDS}

    assert {
        "sims",
        "fleets",
        "sim",
        "campaign",
        "migrate",
        "worker",
        "callbacks",
        "emulator",
        "db",
    } <= groups
    first_campaign = "simops campaign start --action activate --from-file sims.csv --fleet iot-eu"
    assert f"{first_campaign} --id launch-1 --watch" in COMMANDS
    assert "simops campaign status launch-1 -o json" in COMMANDS


@pytest.mark.parametrize("readme_command", COMMANDS)
def test_readme_command_works_as_written(stack: Stack, readme_command: str) -> None:
    command = substitute(stack, readme_command)

    if command[0] in LONG_RUNNING:
        _comes_up(stack, command)
        return
    result = stack.run(*command)

    assert result.returncode == 0, _failure(
        command, result.returncode, result.stdout, result.stderr
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == "" or result.stderr.endswith("\n"), result.stderr
