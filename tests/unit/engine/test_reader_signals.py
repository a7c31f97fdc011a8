"""The reader process's signal handler: a second SIGTERM may arrive while the first one's handler
is inside `Event.set()` (the agent's stop, then the kernel's on the agent's death)."""

from __future__ import annotations

import threading

from dtsctl.engine.reader import ChangeLogReader


def test_a_signal_arriving_inside_halt_set_neither_deadlocks_nor_is_lost() -> None:
    reader = ChangeLogReader.__new__(ChangeLogReader)
    reader._halt = threading.Event()
    with reader._halt._cond:  # as if the handler interrupted this thread inside `_halt.set()`
        reader._halt_soon()  # setting the event here directly would wait forever on that lock
    assert reader._halt.wait(5)
