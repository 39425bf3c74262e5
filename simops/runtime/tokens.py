"""The bearer tokens simops accepts from callers, and the rule every one of them must meet.

`SIMOPS_API_TOKENS` names each JSON API token and its scope (`name:scope:token`, comma-separated);
`SIMOPS_UI_TOKEN` and `SIMOPS_CODEC_TOKEN` are single tokens. Each is refused when settings are
read, so no process (the API, the dashboard, the codec server, a worker) starts with a token a
person could guess or that a copy-paste emptied.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, SecretStr

MIN_TOKEN_LENGTH = 16
"""The fewest characters a token may have (128 bits as hex is 32; 16 keeps passphrases usable)."""


class TokenScope(StrEnum):
    """What an API token may do: read (GET) only, or read and write (every method)."""

    READ = "read"
    WRITE = "write"


class ApiToken(BaseModel):
    """One token of `SIMOPS_API_TOKENS`: who holds it (for logs) and what it may do."""

    model_config = ConfigDict(frozen=True)

    name: str
    scope: TokenScope
    token: SecretStr


class TokenError(ValueError):
    """A token setting that simops refuses; the message names the setting, never the token."""


def check_token(setting: str, token: str) -> None:
    """Refuse (`TokenError`) a token that is blank or shorter than `MIN_TOKEN_LENGTH`."""
    if not token.strip():
        raise TokenError(
            f"{setting} is blank: give a random token of {MIN_TOKEN_LENGTH}+ characters"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"{setting} is {len(token)} characters: use at least {MIN_TOKEN_LENGTH} "
            "(e.g. `openssl rand -hex 24`)"
        )


def parse_api_tokens(text: str) -> list[ApiToken]:
    """`SIMOPS_API_TOKENS`: `name:scope:token` entries separated by commas (a token may hold `:`
    but no `,`), each name and each token once; `TokenError` naming the entry at fault by its
    position and name, never by its token."""
    tokens: list[ApiToken] = []
    for position, entry in enumerate((part.strip() for part in text.split(",")), start=1):
        if not entry:
            continue
        name, _, rest = entry.partition(":")
        scope, separator, token = rest.partition(":")
        where = f"SIMOPS_API_TOKENS entry {position}"
        if not separator or not name.strip():
            # Not named: an entry without its colons may be a bare token.
            raise TokenError(f"{where}: write it as name:scope:token (scope read or write)")
        where += f" ({name.strip()})"
        if scope.strip() not in {scope.value for scope in TokenScope}:
            raise TokenError(f"{where}: the scope is read or write, not {scope.strip()!r}")
        check_token(where, token)
        tokens.append(ApiToken(name=name.strip(), scope=TokenScope(scope.strip()), token=token))
    names = [token.name for token in tokens]
    for name in names:
        if names.count(name) > 1:
            raise TokenError(f"SIMOPS_API_TOKENS names {name!r} twice: each token has its own name")
    secrets = [token.token.get_secret_value() for token in tokens]
    if len(set(secrets)) != len(secrets):
        raise TokenError("SIMOPS_API_TOKENS gives one token under two names")
    return tokens
