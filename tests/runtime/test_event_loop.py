"""Which event loop simops processes run on."""

from __future__ import annotations

import asyncio
import sys

import pytest

from simops.runtime import event_loop


async def running_loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_used_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(event_loop.EVENT_LOOP_VARIABLE, raising=False)
    assert event_loop.loop_name() == "uvloop"
    assert event_loop.run(running_loop_module()).startswith("uvloop")


def test_the_variable_forces_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.EVENT_LOOP_VARIABLE, " AsyncIO ")
    assert event_loop.loop_factory() is None
    assert event_loop.loop_name() == "asyncio"
    assert event_loop.run(running_loop_module()).startswith("asyncio")


def test_without_uvloop_the_standard_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.EVENT_LOOP_VARIABLE, raising=False)
    # A `None` entry makes `import uvloop` raise ImportError, as on a platform without it.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert event_loop.loop_factory() is None
    assert event_loop.run(running_loop_module()).startswith("asyncio")
