"""Random argument lists for `simops sim`, `sims` and `campaign` with nothing configured.

Whatever the arguments, a command ends with exit code 0, 1 or 2 and messages that end their
line: never an uncaught exception, never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simops.campaigns.spec import CampaignAction
from simops.cli import app
from simops.core.sim import SimStatus
from simops.emulator.ids import iccid_for
from simops.runtime.ports import free_port

GROUPS = ("sim", "sims", "campaign")


@dataclass(frozen=True)
class CommandShape:
    """What a sub-command takes: its positional arguments, flags and options with a value."""

    arguments: int
    flags: list[str]
    options: list[str]
    required: list[str]


def _command_shapes() -> dict[tuple[str, str], CommandShape]:
    """Each sub-command of the fuzzed groups, read from the app itself."""
    root = typer.main.get_command(app)
    shapes: dict[tuple[str, str], CommandShape] = {}
    for group in GROUPS:
        # The root loads a group's module when asked for it by name (simops.cli.LazyCommands).
        group_command = root.get_command(typer.Context(root), group)  # type: ignore[attr-defined]
        for name, command in group_command.commands.items():
            params = command.params
            shapes[(group, name)] = CommandShape(
                arguments=sum(1 for param in params if param.param_type_name == "argument"),
                flags=[p.opts[0] for p in params if getattr(p, "is_flag", False)],
                options=[
                    p.opts[0]
                    for p in params
                    if p.param_type_name == "option" and not getattr(p, "is_flag", False)
                ],
                required=[
                    p.opts[0] for p in params if p.param_type_name == "option" and p.required
                ],
            )
    return shapes


COMMANDS = _command_shapes()

VALUES = st.sampled_from(
    [
        "HS" + "1" * 32,
        "HS123",
        "HF" + "2" * 32,
        "AC" + "3" * 32,
        iccid_for(7),
        iccid_for(7)[:-1] + "0",
        "8.9e+19",
        "active",
        "ready",
        "bogus",
        "activate",
        "deactivate",
        "set-fleet",
        "json",
        "csv",
        "table",
        "text",
        "0",
        "-1",
        "1e400",
        "nan",
        "2%",
        "150%",
        "",
        " ",
        "-",
        "--",
        "sims.csv",
        "missing.csv",
        "../../../etc/passwd",
        "x" * 300,
        "--help",
        "é\u202e\u0000",
    ]
) | st.text(max_size=15)


CHOICES = {
    "--action": [action.value for action in CampaignAction],
    "--status": [status.value for status in SimStatus],
    "--output": ["text", "json", "table", "csv"],
    "--format": ["csv", "json"],
}
"""Valid values of the options that take a choice, so that most invocations get past parsing."""


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    """A sub-command with arguments of the right shape and values of any kind, or garbage."""
    group, name = draw(st.sampled_from(sorted(COMMANDS)))
    shape = COMMANDS[(group, name)]
    tokens = [draw(VALUES) for _ in range(shape.arguments)]
    optional = [option for option in shape.options if option not in shape.required]
    chosen = draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
    for option in [*shape.required, *chosen]:
        choices = CHOICES.get(option)
        tokens += [option, draw(st.sampled_from(choices) | VALUES if choices else VALUES)]
    if shape.flags:
        tokens += draw(st.lists(st.sampled_from(shape.flags), unique=True))
    if draw(st.integers(0, 3)) == 0:
        # Now and then: a token anywhere, or an unknown sub-command.
        tokens.insert(draw(st.integers(0, len(tokens))), draw(VALUES))
        name = draw(st.sampled_from([name, "nope", "", "--help"]))
    return [group, name, *tokens]


@pytest.fixture
def unconfigured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and no SIMOPS_ variable but a Temporal address nobody serves.

    The address is set so that a fuzzed `campaign start` could never reach a real server.
    """
    for variable in [name for name in os.environ if name.startswith("SIMOPS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("SIMOPS_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sims.csv").write_text(f"sim\n{iccid_for(1)}\nHS{'4' * 32}\n", encoding="utf-8")
    return tmp_path


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arguments=invocations())
def test_any_arguments_end_with_an_exit_code_never_a_traceback(
    unconfigured: Path, arguments: list[str]
) -> None:
    result = CliRunner().invoke(app, arguments)

    assert result.exit_code in (0, 1, 2), (arguments, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        arguments,
        result.exception,
    )
    assert "Traceback" not in result.output
    assert result.stderr == "" or result.stderr.endswith("\n"), (arguments, result.stderr)


def test_unconfigured_commands_say_what_to_configure(unconfigured: Path) -> None:
    result = CliRunner().invoke(app, ["sims", "get", "HS" + "1" * 32])

    assert result.exit_code == 2
    assert "SIMOPS_KORE_CLIENT_ID" in result.output
