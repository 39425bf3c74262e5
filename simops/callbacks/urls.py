"""The callback URLs simops hands to the API: the workflow ID and an HMAC of it, in the path.

The path carries the routing data because KORE keeps only the first query parameter of a
`CallbackUrl`, and the HMAC under `SIMOPS_CALLBACK_SECRET` lets the ingress reject a forged URL
even where the provider signs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from simops.supersim.signatures import same_digest

CALLBACK_PATH_PREFIX = "/callbacks"
TOKEN_HEX_LENGTH = 32
ROUTABLE_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
"""Workflow IDs a callback URL can carry: characters no proxy or provider rewrites in a path,
so the URL the provider signs is byte for byte the URL the ingress sees."""


def callback_token(secret: str, workflow_id: str) -> str:
    """The HMAC-SHA256 (hex, truncated to 128 bits) that authenticates a workflow's callback URL."""
    mac = hmac.new(secret.encode(), workflow_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:TOKEN_HEX_LENGTH]


def callback_url(base_url: str, secret: str, workflow_id: str) -> str:
    """The URL the provider calls when an update for `workflow_id` completes."""
    if not ROUTABLE_WORKFLOW_ID.match(workflow_id):
        raise ValueError(f"workflow ID {workflow_id!r} cannot be carried in a callback URL")
    token = callback_token(secret, workflow_id)
    return f"{base_url.rstrip('/')}{CALLBACK_PATH_PREFIX}/{workflow_id}/{token}"


def is_authentic(secret: str, workflow_id: str, token: str) -> bool:
    """Whether `token` is the HMAC of `workflow_id` under `secret` (constant-time compare)."""
    if not ROUTABLE_WORKFLOW_ID.match(workflow_id):
        return False
    return same_digest(callback_token(secret, workflow_id), token)
