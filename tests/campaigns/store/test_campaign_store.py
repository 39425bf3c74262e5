"""The campaign store on both backends (SQLite files, a real PostgreSQL): creation, rows and
outcomes, counts, the report, several processes, and the schema's versions."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from simops.campaigns.copied_rows import copy_rows, retried_rows
from simops.campaigns.rows import (
    PENDING,
    BillingPeriodReading,
    CanarySim,
    CanaryStatus,
    RowOutcome,
    TrackedSim,
)
from simops.campaigns.rules import RowVerdict
from simops.campaigns.sources import ReferenceKind, SourceError, SourceRow
from simops.campaigns.spec import CampaignAction, CampaignSource, CampaignSpec
from simops.campaigns.store.backends import PostgresStores, SqliteStores, StoreBackend
from simops.campaigns.store.campaign_store import CampaignStore, JournalEntries
from simops.campaigns.store.database import SchemaBehindError
from simops.campaigns.store.errors import (
    CampaignExistsError,
    CampaignNotFoundError,
    CampaignStoreError,
)
from simops.campaigns.store.schema import LATEST_VERSION
from simops.core.sim import DesiredState, OutcomeKind, SimSnapshot, SimStatus
from simops.supersim.resources import Sim
from tests.helpers.legacy_store import legacy_store

ACCOUNT = "AC" + "0" * 32
FLEET = "HF" + "1" * 32
ROWS = 12
INVALID_ROWS = {3, 7}


def sid(row_no: int) -> str:
    return f"HS{row_no:032x}"


def spec(campaign_id: str = "spring-rollout") -> CampaignSpec:
    return CampaignSpec(
        campaign_id=campaign_id,
        action=CampaignAction.REACTIVATE,
        source=CampaignSource(file_name="sims.txt"),
        fleet=FLEET,
    )


def source_file(tmp_path: Path, rows: int = ROWS) -> Path:
    path = tmp_path / "sims.txt"
    path.write_text("\n".join(sid(row_no) for row_no in range(1, rows + 1)) + "\n")
    return path


def before(row_no: int) -> SimSnapshot:
    return SimSnapshot(sid=sid(row_no), status=SimStatus.INACTIVE, account_sid=ACCOUNT)


def prepared_store(
    stores: StoreBackend,
    tmp_path: Path,
    rows: int = ROWS,
    *,
    canary: int = 0,
    paths: dict[int, str] | None = None,
) -> CampaignStore:
    """A store whose rows went through the preparation steps (without an API); `paths`: each
    valid row's path (none given: a store prepared before paths were recorded)."""
    campaign = spec().model_copy(update={"canary": canary})
    store = CampaignStore.create(stores, campaign, source_file(tmp_path, rows))
    store.preparation.add_rows(
        [
            SourceRow(row_no=n, reference=sid(n), kind=ReferenceKind.SID, line_no=n)
            for n in range(1, rows + 1)
        ]
    )
    desired = DesiredState(status=SimStatus.ACTIVE, fleet_sid=FLEET)
    with store.preparation.saving_verdicts(through=rows) as save:
        save(
            [
                RowVerdict(n, sid(n), before(n), invalid_code=83010, invalid_reason="not inactive")
                if n in INVALID_ROWS
                else RowVerdict(
                    n,
                    sid(n),
                    before(n),
                    desired=desired,
                    from_statuses=(SimStatus.INACTIVE,),
                    change="inactive → active",
                    path=None if paths is None else paths[n],
                )
                for n in range(1, rows + 1)
            ]
        )
    store.preparation.finish(store.preparation.summarize())
    return store


def outcome(row_no: int, kind: OutcomeKind = OutcomeKind.CONVERGED, **fields: object) -> RowOutcome:
    after = before(row_no).model_copy(update={"status": SimStatus.ACTIVE, "fleet_sid": FLEET})
    return RowOutcome.model_validate(
        {
            "row_no": row_no,
            "sim_sid": sid(row_no),
            "outcome": kind,
            "before": before(row_no),
            "after": after,
            "attempts": 1,
            "started_at": datetime(2026, 5, 1, 12, tzinfo=UTC),
            "finished_at": datetime(2026, 5, 1, 12, 1, tzinfo=UTC),
            **fields,
        }
    )


def test_create_keeps_the_source_and_appears_whole(stores: StoreBackend, tmp_path: Path) -> None:
    given = source_file(tmp_path)

    with CampaignStore.create(stores, spec(), given) as store:
        with store.source_copy() as copy:
            assert copy.name == "sims.txt" and copy.read_bytes() == given.read_bytes()
        assert not copy.exists()
        assert store.source_sha256() == hashlib.sha256(given.read_bytes()).hexdigest()
        assert not store.is_prepared() and store.row_count() == 0

    # Nothing of the campaign stays outside the store: not even the user's file.
    given.unlink()
    assert CampaignStore.list_ids(stores) == ["spring-rollout"]
    if isinstance(stores, SqliteStores):
        assert [entry.name for entry in stores.directory.iterdir()] == ["spring-rollout"]
    with CampaignStore.open(stores, "spring-rollout") as reopened:
        assert reopened.spec == spec()
        with reopened.source_copy() as copy:
            assert copy.read_text().splitlines()[0] == sid(1)
    with pytest.raises(CampaignExistsError):
        CampaignStore.create(stores, spec(), source_file(tmp_path))


def test_a_large_source_file_is_kept_in_chunks(stores: StoreBackend, tmp_path: Path) -> None:
    given = source_file(tmp_path, rows=100_000)
    assert given.stat().st_size > 3 << 20

    with CampaignStore.create(stores, spec(), given) as store, store.source_copy() as copy:
        assert copy.read_bytes() == given.read_bytes()


def test_create_refuses_a_missing_source_and_leaves_nothing(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="cannot be read"):
        CampaignStore.create(stores, spec(), tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="needs source_file"):
        CampaignStore.create(stores, spec(), None)

    assert CampaignStore.list_ids(stores) == []
    if isinstance(stores, SqliteStores):
        assert list(stores.directory.iterdir()) == []


def test_campaigns_share_a_database_and_never_see_each_other(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path) as first:
        other = CampaignStore.create(stores, spec("autumn-rollout"), source_file(tmp_path, 3))
        with other:
            first.record_outcomes([outcome(1)])
            assert other.row_count() == 0 and other.counts()[PENDING] == 0
            assert first.counts()[OutcomeKind.CONVERGED] == 1
            first.stop("stopped by the operator")
            assert other.stop_reason() is None

    assert CampaignStore.list_ids(stores) == ["autumn-rollout", "spring-rollout"]


def test_filter_campaigns_have_no_source_file(stores: StoreBackend) -> None:
    filter_spec = CampaignSpec(
        campaign_id="by-status",
        action=CampaignAction.DEACTIVATE,
        source=CampaignSource(status=SimStatus.ACTIVE),
    )

    with CampaignStore.create(stores, filter_spec, None) as store:
        assert store.source_sha256() is None
        assert store.spec.source.status is SimStatus.ACTIVE
        with pytest.raises(CampaignStoreError, match="no source file"):
            store.source_copy()


@pytest.mark.parametrize("campaign_id", ["nope", "../campaigns", ".hidden", ""])
def test_open_unknown_or_unsafe_ids(stores: StoreBackend, tmp_path: Path, campaign_id: str) -> None:
    CampaignStore.create(stores, spec(), source_file(tmp_path)).close()

    with pytest.raises(CampaignNotFoundError):
        CampaignStore.open(stores, campaign_id)


def test_list_ids_of_a_missing_directory(tmp_path: Path) -> None:
    assert CampaignStore.list_ids(tmp_path / "nowhere") == []


def test_planned_rows_need_preparation(stores: StoreBackend, tmp_path: Path) -> None:
    with (
        CampaignStore.create(stores, spec(), source_file(tmp_path)) as store,
        pytest.raises(CampaignStoreError, match="not prepared"),
    ):
        store.planned_rows(1, 5)


def test_planned_rows_are_the_range_in_order_with_invalid_ones_marked(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path) as store:
        rows = store.planned_rows(2, 4)

    assert [row.row_no for row in rows] == [2, 3, 4, 5]
    assert rows[0].desired == DesiredState(status=SimStatus.ACTIVE, fleet_sid=FLEET)
    assert rows[0].from_statuses == [SimStatus.INACTIVE]
    assert rows[0].before == before(2)
    assert (rows[1].desired, rows[1].invalid_code, rows[1].invalid_reason) == (
        None,
        83010,
        "not inactive",
    )


def test_counts_add_up_and_outcomes_are_upserts(stores: StoreBackend, tmp_path: Path) -> None:
    with prepared_store(stores, tmp_path) as store:
        assert store.counts()[OutcomeKind.INVALID] == len(INVALID_ROWS)
        assert store.counts()[PENDING] == ROWS - len(INVALID_ROWS)

        store.record_outcomes([outcome(1), outcome(2, OutcomeKind.FAILED, code=83009)])
        store.record_outcomes([outcome(1), outcome(2, OutcomeKind.FAILED, code=83009)])
        counts = store.counts()
        assert counts[OutcomeKind.CONVERGED] == 1 and counts[OutcomeKind.FAILED] == 1
        assert sum(counts.values()) == store.row_count() == ROWS

        store.record_outcomes([outcome(2, OutcomeKind.CONVERGED, attempts=2)])
        assert store.counts()[OutcomeKind.CONVERGED] == 2
        assert store.counts()[OutcomeKind.FAILED] == 0
        assert store.finished_rows(1, 5) == {1, 2}
        with pytest.raises(CampaignStoreError, match="no rows"):
            store.record_outcomes([outcome(ROWS + 1)])


def test_failed_and_invalid_rows_are_grouped_with_their_first_rows(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path) as store:
        invalid = ("invalid", 83010, "not inactive", 2)
        assert [(g.outcome, g.code, g.message, g.count) for g in store.failure_groups()] == [
            invalid
        ]
        busy = {"code": 83009, "message": "SIM is busy"}
        store.record_outcomes(
            [
                outcome(1),
                *(outcome(n, OutcomeKind.FAILED, **busy) for n in (2, 4, 5, 6, 8)),
                outcome(9, OutcomeKind.FAILED, code=20404, message="not found"),
                outcome(10, OutcomeKind.FAILED, message="no code"),
            ]
        )
        groups = store.failure_groups(examples=3)
        assert [(g.outcome, g.code, g.message, g.count) for g in groups] == [
            ("failed", 83009, "SIM is busy", 5),
            invalid,
            ("failed", None, "no code", 1),
            ("failed", 20404, "not found", 1),
        ]
        assert [row.row_no for row in groups[0].examples] == [2, 4, 5]
        assert [row.row_no for row in groups[1].examples] == sorted(INVALID_ROWS)
        example = groups[0].examples[0]
        assert example.sim_sid == sid(2) and example.outcome == "failed"
        assert example.code == 83009 and example.reference == sid(2)
        assert [g.count for g in store.failure_groups(most=1)] == [5]


def test_throughput_counts_sims_run_to_an_end_per_interval(
    stores: StoreBackend, tmp_path: Path
) -> None:
    def at(second: int) -> datetime:
        return datetime(2026, 5, 1, 12, 0, second, 250_000, tzinfo=UTC)

    with prepared_store(stores, tmp_path) as store:
        assert store.throughput(5) == []
        store.record_outcomes(
            [
                outcome(1, finished_at=at(0)),
                outcome(2, finished_at=at(4)),
                outcome(4, OutcomeKind.FAILED, finished_at=at(6)),
                outcome(5, OutcomeKind.ALREADY_CONVERGED, finished_at=at(21)),
                outcome(6, OutcomeKind.CANCELLED, finished_at=at(22)),
            ]
        )
        buckets = store.throughput(5)
        assert [(b.start, b.sims) for b in buckets] == [
            (datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC), 2),
            (datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC), 1),
            (datetime(2026, 5, 1, 12, 0, 20, tzinfo=UTC), 1),
        ]
        with pytest.raises(ValueError, match="at least 1"):
            store.throughput(0)


def test_sims_in_progress_are_kept_until_their_row_ends(
    stores: StoreBackend, tmp_path: Path
) -> None:
    desired = DesiredState(status=SimStatus.ACTIVE, fleet_sid=FLEET)
    scheduled = before(4).model_copy(update={"status": SimStatus.SCHEDULED})
    tracked = [
        TrackedSim(row_no=n, sim_sid=sid(n), desired=desired, before=before(n)) for n in (1, 2, 4)
    ]
    with prepared_store(stores, tmp_path) as store:
        store.record_round([], tracked)
        store.record_round(
            [outcome(1)],
            [tracked[2].model_copy(update={"observed": scheduled, "attempts": 1, "writes": 1})],
        )

        in_range = store.in_progress(1, 4)
        assert [sim.row_no for sim in in_range] == [2, 4]
        assert in_range[1].observed == scheduled and in_range[1].writes == 1
        assert store.in_progress(3, 1) == []
        assert store.counts()[OutcomeKind.CONVERGED] == 1

        store.record_outcomes([outcome(2), outcome(4)])
        assert store.in_progress(1, ROWS) == []
        with pytest.raises(CampaignStoreError, match="no rows"):
            store.record_round([], [tracked[0].model_copy(update={"row_no": ROWS + 1})])


def test_cancel_unfinished_leaves_ended_and_invalid_rows(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path) as store:
        store.record_outcomes([outcome(5), outcome(9)])

        cancelled = store.cancel_unfinished("stopped by the operator", first_row=5)
        again = store.cancel_unfinished("stopped by the operator", first_row=5)

        report = {row.row_no: row for row in store.report_rows()}
        counts = store.counts()

    assert cancelled == len({6, 8, 10, 11, 12}) and again == 0
    assert report[6].outcome is OutcomeKind.CANCELLED
    assert report[6].message == "stopped by the operator"
    assert report[7].outcome is OutcomeKind.INVALID
    assert report[4].outcome == PENDING
    assert counts[PENDING] == 3 and counts[OutcomeKind.CANCELLED] == 5


def test_report_has_every_row_once_in_order(stores: StoreBackend, tmp_path: Path) -> None:
    with prepared_store(stores, tmp_path) as store:
        store.record_outcomes([outcome(1), outcome(2, OutcomeKind.FAILED, code=20500)])
        report = list(store.report_rows())

    assert [row.row_no for row in report] == list(range(1, ROWS + 1))
    first, second, third = report[:3]
    assert (first.outcome, first.before_status, first.after_status, first.after_fleet) == (
        OutcomeKind.CONVERGED,
        SimStatus.INACTIVE,
        SimStatus.ACTIVE,
        FLEET,
    )
    assert first.finished_at == datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    assert (second.outcome, second.code) == (OutcomeKind.FAILED, 20500)
    assert (third.outcome, third.code, third.message, third.line_no) == (
        OutcomeKind.INVALID,
        83010,
        "not inactive",
        3,
    )
    assert third.before_status is SimStatus.INACTIVE and third.after_status is None


def test_rows_resolve_against_the_snapshot_by_each_kind_of_reference(
    stores: StoreBackend, tmp_path: Path
) -> None:
    iccids = {n: f"89883070{n:011d}0" for n in range(1, 5)}
    snapshot = [
        Sim(sid=sid(1), account_sid=ACCOUNT, iccid=iccids[1], status=SimStatus.NEW),
        Sim(sid=sid(2), account_sid=ACCOUNT, iccid=iccids[2], status=SimStatus.ACTIVE),
        Sim(sid=sid(3), account_sid=ACCOUNT, iccid=iccids[3], status=SimStatus.NEW,
            unique_name="named"),
    ]  # fmt: skip
    references = [
        (iccids[2], ReferenceKind.ICCID),
        (sid(1), ReferenceKind.SID),
        ("named", ReferenceKind.UNIQUE_NAME),
        (iccids[4], ReferenceKind.ICCID),
        (sid(9), ReferenceKind.SID),
        (iccids[1], ReferenceKind.ICCID),
    ]
    with CampaignStore.create(stores, spec(), source_file(tmp_path)) as store:
        store.preparation.add_rows(
            [
                SourceRow(row_no=n, reference=reference, kind=kind, line_no=n)
                for n, (reference, kind) in enumerate(references, start=1)
            ]
        )
        store.preparation.add_sims(snapshot)
        resolved = store.preparation.resolved_rows(1, len(references))

    assert [(row.row_no, row.sim.sid if row.sim else None) for row in resolved] == [
        (1, sid(2)),
        (2, sid(1)),
        (3, sid(3)),
        (4, None),
        (5, None),
        (6, sid(1)),
    ]
    assert [row.kind for row in resolved] == [kind for _, kind in references]
    assert resolved[0].sim is not None and resolved[0].sim.status is SimStatus.ACTIVE


def test_plan_rows_and_the_preparation_result(stores: StoreBackend, tmp_path: Path) -> None:
    with prepared_store(stores, tmp_path) as store:
        rows = list(store.preparation.plan_rows())
        result = store.preparation.result()

    assert [row.row_no for row in rows] == list(range(1, ROWS + 1))
    assert [row.row_no for row in rows if row.invalid_reason] == sorted(INVALID_ROWS)
    assert {row.change for row in rows if not row.invalid_reason} == {"inactive → active"}
    assert result is not None
    assert (result.rows, result.valid, result.invalid) == (ROWS, ROWS - 2, 2)
    assert result.planned_changes == {"inactive → active": ROWS - 2}
    assert result.invalid_by_code == {"83010": 2}


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from simops.campaigns.store.backends import PostgresStores, SqliteStores
    from simops.campaigns.store.campaign_store import CampaignStore, JournalEntries
    from simops.core.sim import OutcomeKind
    from simops.campaigns.rows import RowOutcome

    where, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stores = PostgresStores(where) if "://" in where else SqliteStores(Path(where))
    with CampaignStore.open(stores, "spring-rollout") as store:
        for row_no in range(first, last + 1):
            store.record_outcomes(
                [RowOutcome(row_no=row_no, outcome=OutcomeKind.CONVERGED, attempts=1)]
            )
    """
)


def where_of(stores: StoreBackend) -> str:
    """What another process opens the same stores with."""
    if isinstance(stores, PostgresStores):
        return stores.url
    assert isinstance(stores, SqliteStores)
    return str(stores.directory)


def test_several_processes_write_one_store(stores: StoreBackend, tmp_path: Path) -> None:
    rows = 600
    with prepared_store(stores, tmp_path, rows) as store:
        halves = [("1", str(rows // 2)), (str(rows // 2 + 1), str(rows))]
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, where_of(stores), first, last])
            for first, last in halves
        ]
        while any(writer.poll() is None for writer in writers):
            # A reader beside two writers always sees a consistent store.
            assert sum(store.counts().values()) == rows
        assert [writer.returncode for writer in writers] == [0, 0]

        assert store.counts()[OutcomeKind.CONVERGED] == rows


def test_a_stop_recorded_by_one_process_refuses_first_writes_in_another(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with (
        prepared_store(stores, tmp_path) as store,
        CampaignStore.open(stores, store.spec.campaign_id) as other,
    ):
        desired = DesiredState(status=SimStatus.ACTIVE, fleet_sid=FLEET)
        first = TrackedSim(row_no=1, sim_sid=sid(1), desired=desired, before=before(1))
        assert store.stop("canary failed") == "canary failed"
        assert other.stop("stopped by the operator") == "canary failed"

        commit = other.commit_journal(JournalEntries(tracked=[first], first_writes=[1]))

        assert commit.refused == {1} and commit.stop_reason == "canary failed"
        assert other.in_progress(1, ROWS) == []


SEVERAL_WRITES = "deactivate,move,reactivate"
PATHS = {
    **dict.fromkeys((1, 4, 6, 10), "move"),
    **dict.fromkeys((5, 8, 9, 12), SEVERAL_WRITES),
    **dict.fromkeys((2, 11), ""),
}
"""Rows 3 and 7 are invalid; 2 and 11 need no write."""


def test_the_canary_is_the_first_rows_of_every_path(stores: StoreBackend, tmp_path: Path) -> None:
    with prepared_store(stores, tmp_path, canary=2, paths=PATHS) as store:
        paths = store.canary_paths()
        # The canary's batch reads its rows only, wherever they are in the range.
        planned = store.planned_rows(1, 8, [1, 4, 5, 8])
        store.record_outcomes([outcome(1)])
        finished = (store.finished_rows(1, 8), store.finished_rows(1, 8, [4, 5, 8]))
        outside = store.commit_journal(
            JournalEntries(ended=[outcome(9, OutcomeKind.FAILED, code=83010, message="refused")])
        )
        inside = store.commit_journal(
            JournalEntries(ended=[outcome(8, OutcomeKind.FAILED, code=83010, message="refused")])
        )
        canary = store.canary()

    assert paths == {1: "move", 4: "move", 5: SEVERAL_WRITES, 8: SEVERAL_WRITES}
    assert [row.row_no for row in planned] == [1, 4, 5, 8]
    assert finished == ({1}, set())
    assert outside.stop_reason is None
    assert inside.stop_reason == (
        "canary: the SIM of row 8 (path deactivate → move → reactivate) failed "
        "(83010: refused); no SIM outside the canary got a write"
    )
    assert canary == CanaryStatus(
        per_path=2,
        sims=[
            CanarySim(row_no=1, sim_sid=sid(1), path="move", state="converged"),
            CanarySim(row_no=4, sim_sid=sid(4), path="move", state="pending"),
            CanarySim(row_no=5, sim_sid=sid(5), path=SEVERAL_WRITES, state="pending"),
            CanarySim(row_no=8, sim_sid=sid(8), path=SEVERAL_WRITES, state="failed"),
        ],
    )


def test_a_systemic_stop_met_by_a_canary_sim_names_its_row_and_path(
    stores: StoreBackend, tmp_path: Path
) -> None:
    systemic = "83010: refused (the account cannot move inactive SIMs); no new SIM is written"
    with prepared_store(stores, tmp_path, canary=1, paths=PATHS) as store:
        commit = store.commit_journal(JournalEntries(stop_reason=systemic, stop_row=5))

    assert commit.stop_reason == (
        f"canary: the SIM of row 5 (path deactivate → move → reactivate) failed: {systemic}"
    )


def test_a_store_prepared_before_paths_has_its_first_rows_as_canary(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path, canary=2) as store:
        assert store.canary_paths() == {1: "", 2: ""}
        commit = store.commit_journal(JournalEntries(ended=[outcome(2, OutcomeKind.FAILED)]))

    assert (commit.stop_reason or "").startswith("canary: the SIM of row 2 failed (no code")


def test_billing_periods_and_warnings_reach_the_report(
    stores: StoreBackend, tmp_path: Path
) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)
    reading = BillingPeriodReading(start_time=start, end_time=start.replace(month=6), is_open=True)
    with prepared_store(stores, tmp_path) as store:
        store.record_billing_period(1, reading)
        store.record_billing_period(1, reading)
        store.record_outcomes([outcome(1, warning="billing period open")])

        assert store.billing_periods([1, 2]) == {1: reading}
        first = next(store.report_rows())

    assert (first.billing_period_start, first.billing_period_end) == (start, reading.end_time)
    assert first.warning == "billing period open"
    assert first.before_account == ACCOUNT and first.after_account == ACCOUNT


def test_a_store_written_before_schema_versions_is_adopted_by_db_upgrade(tmp_path: Path) -> None:
    stores = SqliteStores(tmp_path / "campaigns")
    legacy_store(stores.directory)

    with pytest.raises(SchemaBehindError, match=r"version 0.*simops db upgrade"):
        CampaignStore.open(stores, "spring-rollout")
    done = stores.upgrade()
    assert "adopted an unversioned store (12 rows" in done[0]
    # Adopting applies the first migration; `upgrade` applies the later ones from there.
    assert len(done) == 2 and done[1].startswith("spring-rollout: schema 1 → ")
    assert stores.upgrade() == []
    stores.check()

    with CampaignStore.open(stores, "spring-rollout") as adopted:
        rows = list(adopted.report_rows())
        planned = adopted.planned_rows(1, 3)
        counts = adopted.counts()
        with adopted.source_copy() as copy:
            assert copy.read_bytes() == source_file(tmp_path).read_bytes()
        adopted.record_billing_period(2, BillingPeriodReading(start_time=None, end_time=None))
        adopted.record_outcomes([outcome(2, writes=1)])
        assert adopted.counts()[OutcomeKind.CONVERGED] == 2

    assert len(rows) == ROWS and rows[0].outcome is OutcomeKind.CONVERGED
    assert rows[0].warning is None and rows[0].billing_period_start is None
    assert rows[0].after_fleet == FLEET and rows[2].outcome is OutcomeKind.INVALID
    assert planned[0].note is None and planned[1].desired is not None
    assert counts[OutcomeKind.INVALID] == 2 and counts[PENDING] == ROWS - 3


def test_a_postgresql_database_is_used_only_once_upgraded(postgres_url: str) -> None:
    stores = PostgresStores(postgres_url)
    with pytest.raises(SchemaBehindError, match=r"version 0.*simops db upgrade"):
        stores.check()
    with pytest.raises(SchemaBehindError):
        CampaignStore.list_ids(stores)

    applied = stores.upgrade()

    assert [line.split(":")[0] for line in applied] == [
        f"schema {version - 1} → {version}" for version in range(1, LATEST_VERSION + 1)
    ]
    assert stores.upgrade() == []
    stores.check()
    assert CampaignStore.list_ids(stores) == []
    assert "***" not in stores.describe() or ":***@" in stores.describe()


def test_urls_are_described_without_their_password() -> None:
    described = PostgresStores("postgresql://simops:s3cret@db.example:5432/simops").describe()
    assert described == "postgresql://simops:***@db.example:5432/simops"


def test_a_retry_copies_the_rows_it_chooses_under_their_numbers(
    stores: StoreBackend, tmp_path: Path
) -> None:
    with prepared_store(stores, tmp_path) as store:
        store.record_outcomes(
            [
                outcome(1),
                outcome(2, OutcomeKind.FAILED, code=83009, message="SIM is busy"),
                outcome(4, OutcomeKind.FAILED, code=20404, message="not found"),
                outcome(5, OutcomeKind.CANCELLED, message="not started: cancelled"),
                outcome(6, OutcomeKind.FAILED, message="deadline"),
            ]
        )

        def chosen(**fields: object) -> list[int]:
            source = CampaignSource.model_validate({"retry_of": "spring-rollout", **fields})
            return [row.report.row_no for row in store.retried_rows(source)]

        assert chosen() == [2, 4, 6]
        assert chosen(retry_codes=[83009, 20404]) == [2, 4]
        assert chosen(retry_cancelled=True) == [2, 4, 5, 6]
        assert chosen(retry_codes=[83009], retry_cancelled=True) == [2, 5]
        assert chosen(retry_codes=[83011]) == []

    source = CampaignSource(retry_of="spring-rollout", retry_cancelled=True)
    retry_spec = spec("spring-rollout-retry-1").model_copy(update={"source": source})
    with CampaignStore.create(stores, retry_spec, None) as retry:
        copied = copy_rows(
            stores, "spring-rollout", retry.preparation, partial(retried_rows, source=source)
        )
        rows = list(retry.report_rows())
        plan_rows = list(retry.preparation.plan_rows())
        assert copied == retry.row_count() == 4

    assert [(row.row_no, row.line_no, row.reference) for row in rows] == [
        (n, n, sid(n)) for n in (2, 4, 5, 6)
    ]
    assert {row.retry_of for row in rows} == {"spring-rollout"}
    assert [row.row_no for row in plan_rows] == [2, 4, 5, 6]


def test_counting_a_million_rows_sorts_in_a_small_page_cache(tmp_path: Path) -> None:
    """SQLite lets a GROUP BY's sort grow to the page cache's size (32 MiB at a million rows):
    the counts sort under a small cache, and the cache is whole again after."""
    store = prepared_store(SqliteStores(tmp_path / "campaigns"), tmp_path)
    connection = store.preparation._db.connection.raw
    assert isinstance(connection, sqlite3.Connection)
    statements: list[str] = []
    connection.set_trace_callback(statements.append)

    store.counts()
    store.preparation.summarize()

    cache_sizes = [s for s in statements if s.startswith("PRAGMA cache_size")]
    grouped = [i for i, s in enumerate(statements) if "GROUP BY" in s]
    assert cache_sizes == ["PRAGMA cache_size=-2048", "PRAGMA cache_size=-32768"] * 2
    small = [i for i, s in enumerate(statements) if s == "PRAGMA cache_size=-2048"]
    whole = [i for i, s in enumerate(statements) if s == "PRAGMA cache_size=-32768"]
    counted = [i for i in grouped if any(a < i < b for a, b in zip(small, whole, strict=True))]
    assert len(counted) == 2, "the outcome counts and the counts per change"
    assert connection.execute("PRAGMA cache_size").fetchone() == (-32768,)
