"""Child processes that end with the process that started them.

`simops dev` (and the benchmarks' stacks) start the Temporal dev server, the emulator, workers
and an ingress as children. Ctrl-C, SIGTERM and a closed terminal reach the parent, which stops
them in order; a parent killed with SIGKILL (or by the OOM killer) runs no code at all, and its
children would keep running and holding their ports, so that the next `simops dev` cannot start.
On Linux the kernel can send a child a signal when its parent dies (`PR_SET_PDEATHSIG`): the
children are started through util-linux's `setpriv --pdeathsig TERM`, which sets it and then
executes the command (same PID), so they stop as on SIGTERM. Where `setpriv` is missing the
command runs as given, without that guarantee.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence


def ending_with_parent(command: Sequence[str]) -> list[str]:
    """`command`, made to receive SIGTERM when the process that starts it dies (Linux, with
    util-linux's `setpriv`); unchanged elsewhere."""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    if setpriv is None:
        return list(command)
    return [setpriv, "--pdeathsig", "TERM", "--", *command]
