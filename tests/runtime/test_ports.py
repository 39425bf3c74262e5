"""Free ports: a process never gets the same one twice."""

from __future__ import annotations

import socket

from simops.runtime.ports import free_port


def test_free_ports_are_distinct_and_free() -> None:
    # `simops dev` takes six at once: the kernel may offer a closed probe's port again, which
    # once gave its UI and its emulator one port.
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[-1]))
