"""What a webhook receiver's URL and the webhook signing secret must be, for every process.

The settings (`SIMOPS_NOTIFY_URLS`, `SIMOPS_NOTIFY_SECRET`), a campaign's spec (`--notify`) and
the CLI share these rules, so a mistake is refused where it is typed with one clear line, never
found by a worker hours later. They sit here, with the settings, because the settings are the
lowest layer that needs them.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
"""The prefix of a Standard Webhooks secret; the rest is the key, in base64."""
MIN_SECRET_CHARACTERS = 16
"""A shorter secret is refused: a typo or a placeholder, not a key."""
MIN_KEY_BYTES = 16
"""The least key a secret may decode to (the Standard Webhooks spec suggests 24 to 64 bytes)."""
SCHEMES = ("http", "https")


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks (`None`: it can): an absolute http or https URL with
    a host."""
    try:
        parts = urlsplit(url)
        # Reading the port checks it (a port out of range or not a number raises).
        parts.port  # noqa: B018
    except ValueError as error:
        return f"{url!r} is not a URL: {error}"
    if parts.scheme.lower() not in SCHEMES:
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"{url!r} is not an http or https URL ({shown})"
    if not parts.hostname:
        return f"{url!r} has no host"
    if any(character.isspace() for character in url):
        return f"{url!r} contains white space"
    return None


def webhook_secret_problem(secret: str) -> str | None:
    """Why `secret` cannot sign webhooks (`None`: it can): `whsec_` (optional) then base64 of
    at least `MIN_KEY_BYTES` bytes, `MIN_SECRET_CHARACTERS` characters or more in all. The
    message never repeats the secret."""
    if not secret.strip():
        return "is blank"
    if len(secret) < MIN_SECRET_CHARACTERS:
        return f"is shorter than {MIN_SECRET_CHARACTERS} characters"
    key = secret.removeprefix(SECRET_PREFIX)
    try:
        decoded = base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
    except (binascii.Error, ValueError):
        return f"is not {SECRET_PREFIX} followed by base64 (a Standard Webhooks secret)"
    if len(decoded) < MIN_KEY_BYTES:
        return f"decodes to {len(decoded)} bytes; a key needs at least {MIN_KEY_BYTES}"
    return None
