"""The callback URLs simops hands to the API: the workflow ID and an HMAC of it, in the path.

The path carries the routing data because KORE keeps only the first query parameter of a
`CallbackUrl`, and the HMAC under `SIMOPS_CALLBACK_SECRET` lets the ingress reject a forged URL
even where the provider signs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

CALLBACK_PATH_PREFIX = "/callbacks"
TOKEN_HEX_LENGTH = 32


def callback_token(secret: str, workflow_id: str) -> str:
    """The HMAC-SHA256 (hex, truncated to 128 bits) that authenticates a workflow's callback URL."""
    mac = hmac.new(secret.encode(), workflow_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:TOKEN_HEX_LENGTH]


def callback_url(base_url: str, secret: str, workflow_id: str) -> str:
    """The URL the provider calls when an update for `workflow_id` completes."""
    token = callback_token(secret, workflow_id)
    return f"{base_url.rstrip('/')}{CALLBACK_PATH_PREFIX}/{quote(workflow_id, safe='')}/{token}"


def is_authentic(secret: str, workflow_id: str, token: str) -> bool:
    """Whether `token` is the HMAC of `workflow_id` under `secret` (constant-time compare)."""
    return hmac.compare_digest(callback_token(secret, workflow_id), token)
