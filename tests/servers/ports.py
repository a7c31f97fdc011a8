"""Free loopback ports that no two servers of this process are handed twice.

The kernel picks a free port when we bind to port 0 on 127.0.0.1; we close the
probe socket and remember the number, so a later call in the same session never
hands it out again (even after that server stops: a ``restart()`` reuses it).
Another process can still grab the port between the probe and the server's own
bind: the server classes detect "Address already in use" on a first start and
retry on a new port.
"""

from __future__ import annotations

import socket
import threading

# Ports of the machine's own servers and their usual neighbours: never hand out.
_NEVER = frozenset({3306, 6379, 16379, 27017, 33060})

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now and was not handed out before."""
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
            if port in _handed_out or port in _NEVER:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("could not find a free loopback port after 200 tries")


def handed_out() -> frozenset[int]:
    """Ports given out so far in this process (for diagnostics and tests)."""
    with _lock:
        return frozenset(_handed_out)
