"""The consumer API of subscription tasks: consumer groups, committed offsets, failover.

    from dtsctl.subscribe import Subscriber

    with Subscriber(".", "orders_cdc", "cache") as subscriber:
        for record in subscriber:
            if record.op in ("insert", "update", "delete"):
                update_cache(record.object, record.before, record.after)
            record.commit()

Records are documented in docs/subscriptions.md.
"""

from dtsctl.subscribe.errors import GroupNotDeclared, LeaseLost, PositionTrimmed, ReadOnly, StoreMissing
from dtsctl.subscribe.record import Record
from dtsctl.subscribe.subscriber import Start, Subscriber

__all__ = ["GroupNotDeclared", "LeaseLost", "PositionTrimmed", "ReadOnly", "Record", "Start", "StoreMissing",
           "Subscriber"]
