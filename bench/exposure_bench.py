"""How many SIMs a systemic error reaches before a migration stops: with and without the ramp.

    .venv/bin/python -m bench.exposure_bench [--sims 1000]

Everything local and in separate processes (tests/helpers/process_stack.py), the emulator with
one child account WITHOUT the inactive-move beta and `--scheduled-delay 1 --max-concurrency
100`. Each run moves `--sims` active SIMs (activated by a campaign of their own first) from the
parent to the child with `--deactivate-first --reactivate --default-fleet default`, concurrency
100. The deactivation is accepted; the move after it is refused (83010), an error about the
account that no dry run can foresee, met at each SIM's second step. So every SIM deactivated
before simops stops is a SIM taken out of service by the mistake (each is restored; the run
checks that none is left out of service). Three configurations:

1. no canary, no ramp (`--canary 0 --ramp off`): what the concurrency alone bounds;
2. no canary, the ramp (`--canary 0 --ramp 20,2`): the first wave;
3. the defaults of `simops migrate start --deactivate-first` (a canary of 10 per path, then the
   ramp 20,2).

Prints, per configuration, the SIMs that received any write (from the emulator's per-SIM write
counts, not simops' report), the SIMs out of service at the end and the seconds to `stopped`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from simops.campaigns.spec import Ramp
from tests.helpers.chaos_scenarios import migration_without_beta, run_scenario, untouched

EMULATOR = ["--scheduled-delay", "1", "--max-concurrency", "100"]
LIMIT_SECONDS = 1800.0
CONFIGURATIONS: dict[str, dict[str, object]] = {
    "--canary 0 --ramp off": {"canary": 0, "ramp": None},
    "--canary 0 --ramp 20,2": {"canary": 0, "ramp": Ramp(base=20, factor=2).model_dump()},
    "defaults (canary 10 per path, ramp 20,2)": {},
}


async def bench(sims: int) -> None:
    """Run the refused migration once per configuration and print what each touched."""
    print(f"{sims:,} active SIMs, --deactivate-first --reactivate, without the beta (83010):")
    for name, spec_fields in CONFIGURATIONS.items():
        with tempfile.TemporaryDirectory(prefix="simops-bench-") as scratch:
            result = await run_scenario(
                "exposure",
                Path(scratch),
                sims,
                untouched(),
                workload=migration_without_beta,
                emulator_args=EMULATOR,
                spec_fields=spec_fields,
                limit_seconds=LIMIT_SECONDS,
            )
        if not result.passed:
            raise SystemExit(f"{name}: " + "; ".join(result.problems()))
        counts = result.accounting
        print(
            f"  {name}: {counts.sims_written:,} SIMs written before the stop, "
            f"{counts.out_of_service:,} out of service at the end, "
            f"{result.phase} in {result.seconds:.1f} s"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sims", type=int, default=1_000)
    asyncio.run(bench(parser.parse_args().sims))
