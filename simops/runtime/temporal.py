"""Connecting to Temporal the one way every simops process does: same converter, same namespace."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from simops.observability.tracing import client_interceptors
from simops.runtime.codec import EncryptionCodec
from simops.runtime.settings import SimopsSettings

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 15.0


def data_converter(settings: SimopsSettings) -> DataConverter:
    """The pydantic converter, encrypting every payload when `SIMOPS_PAYLOAD_KEY` is set.

    With the key set, failure messages and stack traces move into an encrypted payload too:
    they may name what a payload holds. Every process (workers, ingress, CLI) must use the same
    converter, or one cannot read what another wrote.
    """
    if settings.payload_key is None:
        return pydantic_data_converter
    codec = EncryptionCodec.from_keys(
        settings.payload_key.get_secret_value(),
        [old.get_secret_value() for old in settings.payload_old_keys],
    )
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: SimopsSettings) -> Client:
    """A Temporal client for the configured address and namespace, with simops' converter."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        interceptors=client_interceptors(settings),
    )


async def connect_when_up(settings: SimopsSettings, stop: asyncio.Event) -> Client | None:
    """A Temporal client once Temporal answers, or `None` if `stop` is set first.

    Long-running processes start in any order (a container's worker often before the cluster
    answers), so each failed attempt is one log line and a growing pause, not a traceback.
    """
    delay = FIRST_RETRY_SECONDS
    while not stop.is_set():
        try:
            return await connect(settings)
        except RuntimeError as error:
            log.warning(
                "waiting for Temporal at %s (%s); retrying in %.1f s",
                settings.temporal_address,
                str(error).splitlines()[0] if str(error) else type(error).__name__,
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)
    return None
