"""`.simops/env`: `NAME=value` lines in sh syntax, every value quoted.

`simops dev` writes it and every simops process reads it (through `SimopsSettings`), and a shell
can load it too (`set -a; . .simops/env; set +a`): the values are JSON maps and secrets, which
unquoted would be split into words and run as commands. It holds credentials, so it is created
readable by its owner only, before anything is written into it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

ENV_FILE_MODE = 0o600


class EnvFileError(ValueError):
    """A settings file line that is not `NAME=value` in sh syntax; the message names the line."""


def sh_quote(value: str) -> str:
    """`value` in single quotes, as sh reads it back unchanged (a `'` inside becomes `'\\''`).

    Unlike `shlex.quote`, a value that needs no quotes gets them too: every value of the file
    looks the same, and one edited later by hand stays quoted.
    """
    return "'" + value.replace("'", "'\\''") + "'"


def render_env(values: Mapping[str, str]) -> str:
    """The file's text: one `NAME='value'` line per setting."""
    if any("\n" in value or "\r" in value for value in values.values()):
        # The file is read line by line, as `.env` files are.
        raise ValueError("a setting written to the env file cannot span lines")
    return "".join(f"{name}={sh_quote(value)}\n" for name, value in values.items())


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Replace `path` with the settings, the file being 0600 from the moment it exists.

    The text goes into a new file made with mode 0600 (`os.open`, so no moment with wider
    permissions, whatever mode an earlier file had) and is then renamed over `path`.
    """
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.unlink(missing_ok=True)  # left by a process of the same id that died mid-write
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, ENV_FILE_MODE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(render_env(values))
        os.replace(scratch, path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise


def read_env_file(path: Path) -> dict[str, str]:
    """The settings of a file in sh syntax: `NAME=value` lines, an optional `export`, comments
    and blank lines; `EnvFileError` for a line sh would not read as one assignment."""
    values: dict[str, str] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            raise EnvFileError(f"{path}, line {line_no}: {error}") from None
        if words[:1] == ["export"]:
            words = words[1:]
        if not words:
            continue
        name, assigns, value = words[0].partition("=")
        if len(words) != 1 or not assigns or not name.isidentifier():
            raise EnvFileError(
                f"{path}, line {line_no}: not NAME=value in sh syntax (quote the value)"
            )
        values[name] = value
    return values
