"""A consumer process for the tests: python -m tests.integration.subscribe.consumer STORE GROUP OUT [LEASE]

Appends "seq op" per record to OUT (flushed and synced before the commit), committing each record.
"""

from __future__ import annotations

import os
import sys

from dtsctl.subscribe import LeaseLost, Subscriber


def main(store: str, group: str, out: str, lease_seconds: str = "1.5") -> None:
    with Subscriber(store, None, group, lease_seconds=float(lease_seconds)) as subscriber, open(out, "a") as file:
        for record in subscriber:
            file.write(f"{record.seq} {record.op}\n")
            file.flush()
            os.fsync(file.fileno())
            try:
                record.commit()
            except LeaseLost:
                pass  # another consumer took over; this one waits and resumes from the committed offset


if __name__ == "__main__":
    main(*sys.argv[1:])
