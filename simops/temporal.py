"""Connecting to Temporal the one way every simops process does: same converter, same namespace."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from simops.codec import EncryptionCodec
from simops.settings import SimopsSettings


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
    )
