"""What the campaign store raises when it cannot do what was asked."""

from __future__ import annotations


class CampaignStoreError(Exception):
    """The campaign store cannot do what was asked; the message says why."""


class CampaignExistsError(CampaignStoreError):
    """A campaign with this id already exists."""


class CampaignNotFoundError(CampaignStoreError):
    """No campaign with this id in the store."""
