"""Messages built from statuses and actions read as English: `an active SIM`, never `a active`."""

from __future__ import annotations

import re

import pytest

from simops.campaigns.spec import CampaignAction
from simops.core.sim import SimState, SimStatus, SimUpdate
from simops.core.transitions import RuleViolation, evaluate_update
from simops.core.wording import with_article

WRONG_ARTICLE = re.compile(r"\b[Aa] [aeiou]|\b[Aa]n [^aeiou\W]")

PARENT = "AC" + "a" * 32
CHILD = "AC" + "b" * 32
FLEET = "HF" + "1" * 32


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("active", "an active"),
        ("inactive", "an inactive"),
        ("activate", "an activate"),
        ("new", "a new"),
        ("ready", "a ready"),
        ("scheduled", "a scheduled"),
        ("set-fleet", "a set-fleet"),
        ("", "a "),
    ],
)
def test_with_article(word: str, expected: str) -> None:
    assert with_article(word) == expected


@pytest.mark.parametrize("word", [*SimStatus, *CampaignAction])
def test_every_status_and_action_gets_the_right_article(word: str) -> None:
    assert not WRONG_ARTICLE.search(with_article(word))


@pytest.mark.parametrize("status", [SimStatus.ACTIVE, SimStatus.INACTIVE, SimStatus.READY])
@pytest.mark.parametrize(
    "update",
    [
        SimUpdate(account_sid=CHILD),
        SimUpdate(fleet=""),
        SimUpdate(status=SimStatus.ACTIVE, fleet=""),
    ],
    ids=["move", "remove-fleet", "active-without-fleet"],
)
def test_rule_messages_use_the_right_article(status: SimStatus, update: SimUpdate) -> None:
    observed = SimState(status=status, fleet_sid=FLEET, account_sid=PARENT)

    verdict = evaluate_update(observed, update)

    if isinstance(verdict, RuleViolation):
        assert not WRONG_ARTICLE.search(verdict.message), verdict.message
