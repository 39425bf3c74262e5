"""The callback ingress's memory of idempotency tokens over a long run.

    .venv/bin/python -m bench.ingress_tokens_bench [--tokens 2100000]

Feeds `RecentTokens` (the ingress's duplicate cache, 100,000 tokens by default) one new token
after another, made as the emulator makes its `kore-idempotency-token` values and as a
campaign's callbacks bring them, each claimed then released as delivered, and prints this
process's RSS above its start at checkpoints: when the cache has just filled (110,000 tokens),
then at 600,000, 1,100,000 (a million-SIM campaign after the 10,000 and 100,000 ones of
`bench.million_bench`) and `--tokens`. A cache whose memory is bounded shows the same figure at
every checkpoint after the first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random

from simops.callbacks.ingress import RecentTokens
from simops.emulator.ids import IdFactory
from tests.helpers.process_stack import rss_mib

CHECKPOINTS = (110_000, 600_000, 1_100_000)


async def main(tokens: int) -> None:
    """Feed the cache `tokens` tokens and print the RSS growth at each checkpoint."""
    ids = IdFactory(random.Random(28))
    recent = RecentTokens()
    checkpoints = {count for count in CHECKPOINTS if count < tokens} | {tokens}
    start = rss_mib(os.getpid())
    for count in range(1, tokens + 1):
        token = ids.token()
        recent.release(token, recent.claim(token), taken=True)
        if count in checkpoints:
            grown = rss_mib(os.getpid()) - start
            print(f"{count:>9,} tokens seen, {len(recent):,} held: RSS +{grown:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2_100_000)
    asyncio.run(main(parser.parse_args().tokens))
