"""Connecting to Temporal the one way every simops process does: same converter, same namespace."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from simops.settings import SimopsSettings


async def connect(settings: SimopsSettings) -> Client:
    """A Temporal client for the configured address and namespace, with the pydantic converter."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
