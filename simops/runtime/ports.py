"""Local TCP ports: one free to listen on."""

from __future__ import annotations

import socket

_HANDED_OUT: set[int] = set()
"""Ports this process was given: the kernel may offer a port again as soon as its probe
closed, and two of one caller's ports (a UI and an emulator, say) must differ."""


def free_port() -> int:
    """A TCP port nobody listens on right now, never one this process was given before."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
