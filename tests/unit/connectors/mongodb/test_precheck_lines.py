"""Precheck lines for what nx-27017 cannot produce, from the documented server errors."""

from __future__ import annotations

from pymongo.errors import OperationFailure

from dtsctl.connectors.mongodb.precheck import _change_stream


class Standalone:
    """A source whose server answers `$changeStream` as a standalone mongod does (error 40573)."""

    endpoint = {"engine": "mongodb", "host": "10.0.0.5", "port": 27017}

    def stream_keys(self) -> list[str]:
        return ["*"]

    def watch(self, key: str, token: object) -> None:
        raise OperationFailure("The $changeStream stage is only supported on replica sets", code=40573)


def test_a_standalone_source_is_told_how_to_make_a_one_node_replica_set():
    result = _change_stream(Standalone())  # type: ignore[arg-type]
    assert not result.ok
    assert result.message.startswith("cannot open a change stream on 10.0.0.5:27017: change streams need a replica set")
    assert "--replSet rs0" in result.message and "rs.initiate()" in result.message
    assert "replica_set: rs0" in result.message
