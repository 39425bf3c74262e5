"""Garbage collection settings of long-running simops processes."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from simops.runtime import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    startup_object: list[list[str]] = [["imported before serving"]]
    assert gc.is_tracked(startup_object)
    older_thresholds = gc.get_threshold()[1:]

    gc_tuning.tune_for_service()

    assert gc.get_freeze_count() > 0
    # Frozen objects are in no generation any more: collections never walk them.
    assert not any(tracked is startup_object for tracked in gc.get_objects())
    assert gc.get_threshold() == (gc_tuning.YOUNG_GC_THRESHOLD, *older_thresholds)
