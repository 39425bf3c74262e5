"""Rows a campaign copies from an earlier one, read from that campaign's store: a rollback takes
every row of the migration it undoes, a retry the rows of a campaign that ended `failed` (and
`cancelled`, if asked). A copied row keeps the number and file line it has in the earlier
campaign's report, which the new campaign's report shows; its SIM is looked up afresh when the
new campaign is prepared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from simops.campaigns.spec import CampaignSource
from simops.campaigns.store.backends import StoreBackend
from simops.campaigns.store.campaign_store import CampaignStore
from simops.campaigns.store.preparation import CopiedRow, PreparationStore

COPY_CHUNK = 5000
"""Rows imported per write transaction."""


def copy_rows(
    stores: StoreBackend,
    earlier_id: str,
    tables: PreparationStore,
    rows: Callable[[CampaignStore], Iterable[CopiedRow]],
) -> int:
    """Import into `tables` the rows `rows` makes of campaign `earlier_id`, a chunk at a time
    (never all at once: a campaign may have a million); how many."""
    with CampaignStore.open(stores, earlier_id) as earlier:
        copied = iter(rows(earlier))
        imported = 0
        while chunk := list(islice(copied, COPY_CHUNK)):
            tables.add_copied_rows(chunk)
            imported += len(chunk)
        return imported


def retried_rows(earlier: CampaignStore, source: CampaignSource) -> Iterator[CopiedRow]:
    """The rows a retry from `source` runs again, numbered from 1 in this campaign, each as the
    earlier campaign imported it (reference, Fleet, new name, where a rollback takes it)."""
    for row_no, row in enumerate(earlier.retried_rows(source), start=1):
        yield row.imported._replace(row_no=row_no), row.target, row.note
