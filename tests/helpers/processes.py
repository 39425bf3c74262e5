"""Running `simops` commands from tests, in a child process."""

from __future__ import annotations

import os


def clean_environment() -> dict[str, str]:
    """This process's environment without SIMOPS_* settings (other tests may have set some):
    what `.simops/env` or the test gives is what counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIMOPS_")}
