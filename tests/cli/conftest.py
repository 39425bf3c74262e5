"""What the command-line tests share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIMOPS_* variables and no `.simops/env` but what a test sets (a module asks for it
    with `pytest.mark.usefixtures("isolated")`)."""
    for name in list(os.environ):
        if name.startswith("SIMOPS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
