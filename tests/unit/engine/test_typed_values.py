from __future__ import annotations

import datetime
import decimal

from dtsctl.engine.events import ChangeEvent, SchemaChange, Transaction, decode_value, encode_value


def test_mysql_values_survive_the_change_log_exactly():
    values = [decimal.Decimal("-12345678901234567890.123456789012345678901234567890"),
              datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), datetime.date(1000, 1, 1),
              datetime.timedelta(days=-1, seconds=41399, microseconds=5), {"x", "z"}, 18446744073709551615, b"\x00\xff"]
    for value in values:
        assert decode_value(encode_value(value)) == value
        assert type(decode_value(encode_value(value))) is type(value)


def test_ddl_event_round_trips():
    event = ChangeEvent("shop", "orders", "ddl", None, None, 1.0, {"file": "bin.000001", "pos": 9},
                        ddl=SchemaChange("alter", "ADD COLUMN x INT", key=("id",), dialect="mysql"))
    assert Transaction.from_payload(Transaction((event,), 1, 1.0).payload(), 1, 1.0).events == (event,)
