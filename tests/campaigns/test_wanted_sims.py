"""The Bloom filter of the references a campaign's rows name: no false negatives, few positives."""

from __future__ import annotations

from simops.campaigns.sources import ReferenceKind
from simops.campaigns.wanted_sims import WantedSims
from simops.core.sim import SimStatus
from simops.emulator.ids import iccid_for
from simops.supersim.resources import SimSummary

ACCOUNT = "AC" + "0" * 32


def summary(serial: int, unique_name: str | None = None) -> SimSummary:
    return SimSummary(
        sid=f"HS{serial:032x}",
        account_sid=ACCOUNT,
        iccid=iccid_for(serial),
        status=SimStatus.NEW,
        unique_name=unique_name,
    )


def test_every_sim_a_row_names_is_wanted_by_its_sid_iccid_or_unique_name() -> None:
    named = [summary(serial, f"tracker-{serial}") for serial in range(3_000)]
    wanted = WantedSims(len(named))
    for sim in named[:1_000]:
        wanted.add(ReferenceKind.SID, sim.sid)
    for sim in named[1_000:2_000]:
        wanted.add(ReferenceKind.ICCID, sim.iccid or "")
    for sim in named[2_000:]:
        wanted.add(ReferenceKind.UNIQUE_NAME, sim.unique_name or "")
    missed = [sim.sid for sim in named if not wanted.wants(sim)]
    assert missed == []


def test_about_one_sim_in_two_hundred_that_no_row_names_passes() -> None:
    wanted = WantedSims(10_000)
    for serial in range(10_000):
        wanted.add(ReferenceKind.ICCID, iccid_for(serial))
    others = [summary(serial) for serial in range(10_000, 40_000)]
    passed = sum(wanted.wants(sim) for sim in others)
    # 30,000 SIMs tried by ICCID alone at 0.5 %: about 150; 300 is 12 deviations up.
    assert passed < 300, f"{passed} of {len(others):,} SIMs no row names passed"


def test_a_sim_is_tried_only_by_the_kinds_of_reference_rows_use() -> None:
    sim = summary(1, "tracker")
    wanted = WantedSims(10)
    wanted.add(ReferenceKind.ICCID, sim.sid)
    assert not wanted.wants(sim), "a row of ICCIDs names no SIM by its SID"
    wanted.add(ReferenceKind.SID, "HS" + "f" * 32)
    assert wanted.wants(sim)


def test_a_filter_for_no_references_wants_nothing() -> None:
    assert not WantedSims(0).wants(summary(1, "tracker"))
