"""How driver errors become dtsctl's (connectors/mongodb/client.failures): the server's documented
error codes and labels decide whether the agent retries (ConnectionFailure) or stops in words."""

from __future__ import annotations

import pytest
from pymongo.errors import AutoReconnect, InvalidURI, OperationFailure

from dtsctl.connectors.mongodb.client import failures
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

ENDPOINT = {"engine": "mongodb", "uri": "mongodb://bob:hunter2@10.0.0.5:27017/"}


def raised(error: Exception) -> DtsError:
    with pytest.raises(DtsError) as caught, failures(ENDPOINT, "apply changes to"):
        raise error
    assert "hunter2" not in str(caught.value)
    return caught.value


def test_a_write_conflict_in_a_transaction_is_retried():
    error = raised(OperationFailure("WriteConflict", code=112,
                                    details={"errmsg": "WriteConflict", "errorLabels": ["TransientTransactionError"]}))
    assert isinstance(error, ConnectionFailure) and "right now" in str(error)


def test_a_refused_command_names_the_server_the_reason_and_the_code_and_is_not_retried():
    error = raised(OperationFailure("x", code=10334, details={"errmsg": "BSONObj size: 17000000 is invalid"}))
    assert not isinstance(error, ConnectionFailure)
    assert str(error).startswith("MongoDB at 10.0.0.5:27017 refused to apply changes to it: BSONObj size")
    assert "(error 10334)" in str(error)


def test_lost_connections_are_retried_and_bad_settings_are_not():
    assert isinstance(raised(AutoReconnect("10.0.0.5:27017: connection closed")), ConnectionFailure)
    settings = raised(InvalidURI("bad"))
    assert not isinstance(settings, ConnectionFailure) and "settings are not valid" in str(settings)


def test_a_dtsctl_bug_is_not_disguised_as_a_server_answer():
    with pytest.raises(KeyError), failures(ENDPOINT, "apply changes to"):
        raise KeyError("ours")
