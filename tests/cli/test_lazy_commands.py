"""The `simops` group loads a sub-command's module only when that command is asked for."""

from __future__ import annotations

import importlib
import subprocess
import sys

import typer
import typer.main

from simops.cli import COMMAND_MODULES, app


def test_every_registered_command_is_listed_with_its_module() -> None:
    """A command a module registers but the table lacks would be unreachable: none is."""
    for module_name in set(COMMAND_MODULES.values()):
        registered = typer.Typer()
        importlib.import_module(module_name).register(registered)
        names = set(typer.main.get_group(registered).commands)
        listed = {name for name, module in COMMAND_MODULES.items() if module == module_name}
        assert names == listed, module_name


def test_each_listed_command_resolves() -> None:
    """Every name `--help` lists is a command the group returns."""
    root = typer.main.get_command(app)
    context = typer.Context(root)
    for name in COMMAND_MODULES:
        command = root.get_command(context, name)  # type: ignore[attr-defined]
        assert command is not None and command.name == name
    assert root.get_command(context, "no-such-command") is None  # type: ignore[attr-defined]


def modules_loaded_by(
    command: str, prefixes: tuple[str, ...], *, also_importing: tuple[str, ...] = ()
) -> list[str]:
    """The modules named under `prefixes` that a fresh interpreter holds once `simops` has
    resolved `command` (after importing `also_importing`, what the command itself imports).

    A fresh interpreter, because this one has imported every command already."""
    probe = (
        "import sys, typer, typer.main\n"
        "from simops.cli import app\n"
        + "".join(f"import {module}\n" for module in also_importing)
        + "root = typer.main.get_command(app)\n"
        f"assert root.get_command(typer.Context(root), {command!r}) is not None\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return loaded.stdout.split()


def test_a_command_does_not_import_the_other_commands() -> None:
    """`simops campaign` reaches its command without the emulator, the UI or `simops dev`."""
    prefixes = ("simops.emulator", "simops.ui", "simops.devstack", "simops.worker")
    assert modules_loaded_by("campaign", prefixes) == []


def test_a_sim_command_imports_no_api_client_store_or_workflow() -> None:
    """`simops sim activate SID` starts its workflow without aiohttp, the database drivers or
    the workflows and activities: its start-up is most of a one-SIM operation's overhead."""
    own = ("simops.cli.support", "simops.clients.sims", "simops.runtime.temporal")
    prefixes = ("aiohttp", "psycopg", "simops.workflows", "simops.activities")
    assert modules_loaded_by("sim", prefixes, also_importing=own) == []
