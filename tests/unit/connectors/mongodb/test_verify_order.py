"""How verify orders MongoDB positions for one collection: the applier has passed a source read only
when its stream's resume token is at or after the read's."""

from __future__ import annotations

from dtsctl.connectors.mongodb.verify import _stream_order

ORDER = _stream_order("shop.orders")


def at(token: str, copy: object = None) -> dict[str, object]:
    return {"streams": {"shop.orders": {"_data": token}, "shop.users": {"_data": "0"}}, "copy": copy}


def test_mongodb_tokens_order_as_hex_text_whatever_their_case() -> None:
    assert ORDER(at("8263A0000000010000")) < ORDER(at("8263a0000000020000")) < ORDER(at("8263B0"))


def test_numbered_tokens_order_by_their_number_not_as_text() -> None:
    assert ORDER(at("nx:95")) < ORDER(at("nx:104")) < ORDER(at("nx:1000"))
    assert ORDER(at("nx:104")) == ORDER(at("nx:104"))


def test_a_position_still_copying_comes_before_every_stream_position() -> None:
    assert ORDER(at("82FF", copy={"todo": ["shop.orders"], "after": None})) < ORDER(at("8200"))
    assert ORDER(None) < ORDER(at("8200"))
