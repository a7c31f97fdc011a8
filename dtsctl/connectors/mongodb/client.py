"""Connections to a MongoDB endpoint, and what its failures mean to the user.

An endpoint is either a `uri` (a standard connection string, which may hold the password:
it is never written into a message) or host/port/user/password/auth_database/replica_set;
`tls` options go to the driver as they are.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import pymongo
from bson import CodecOptions
from pymongo import MongoClient
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from dtsctl.connectors.mongodb.codec import CODEC
from dtsctl.engine.errors import ConnectionFailure
from dtsctl.errors import DtsError

TIMEOUT_MS = 5_000
UNAUTHORIZED = 13
AUTH_FAILED = 18
# Errors a retry can get past (the server's error codes and labels): WriteConflict, a primary stepping
# down or shutting down, an interrupted or timed-out operation.
_TRANSIENT_CODES = frozenset({6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
_TRANSIENT_LABELS = ("TransientTransactionError", "RetryableWriteError", "ResumableChangeStreamError")


def where(endpoint: dict[str, Any]) -> str:
    """host:port (or the hosts of a uri) for messages: never the uri's credentials."""
    uri = endpoint.get("uri")
    if uri:
        try:
            return ",".join(f"{host}:{port}" for host, port in parse_uri(uri)["nodelist"]) or "the uri's hosts"
        except (ConfigurationError, ValueError):
            return "the endpoint's uri"
    return f"{endpoint.get('host')}:{endpoint.get('port') or 27017}"


def connect(endpoint: dict[str, Any], codec: CodecOptions = CODEC) -> MongoClient:
    """A client for the endpoint (connecting lazily) whose documents decode with `codec`; DtsError
    when its options are not valid. A timeout the uri sets wins over dtsctl's."""
    options: dict[str, Any] = {"serverSelectionTimeoutMS": TIMEOUT_MS, "connectTimeoutMS": TIMEOUT_MS,
                               "tz_aware": True, "document_class": codec.document_class, **(endpoint.get("tls") or {})}
    try:
        if endpoint.get("uri"):
            given = parse_uri(endpoint["uri"], warn=False)["options"]  # refuses what the client only warns about
            return MongoClient(endpoint["uri"], **{name: value for name, value in options.items() if name not in given})
        if endpoint.get("replica_set"):
            options["replicaSet"] = endpoint["replica_set"]
        else:
            options["directConnection"] = True
        if endpoint.get("user"):
            options.update(username=endpoint["user"], password=endpoint.get("password") or "",
                           authSource=endpoint.get("auth_database") or endpoint.get("database") or "admin")
        return MongoClient(endpoint.get("host"), int(endpoint.get("port") or 27017), **options)
    except (ConfigurationError, ValueError, TypeError) as exc:
        problem = _without_secrets(str(exc), endpoint).replace(" Refer to docstring.", "")
        if endpoint.get("uri"):
            raise DtsError(f"the uri of the MongoDB endpoint is not valid: {problem}; write it as "
                           "mongodb://user:password@host:port/?option=value (the MongoDB manual, "
                           "\"Connection Strings\")") from None
        raise DtsError(f"the MongoDB endpoint {where(endpoint)} is not valid: {problem}; "
                       "check its tls options and replica_set") from None


def check(client: MongoClient, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Reach the server and authenticate; the server's `hello` reply."""
    with failures(endpoint, "connect to"):
        return client.admin.command("hello")


@contextlib.contextmanager
def failures(endpoint: dict[str, Any], doing: str) -> Iterator[None]:
    """Every driver error as the user's words, decided here only: ConnectionFailure when
    retrying can help (the agent retries it), else DtsError saying what is wrong and what to do."""
    try:
        yield
    except DtsError:
        raise
    except OperationFailure as exc:
        raise _refused(exc, endpoint, doing) from None
    except pymongo.errors.ConnectionFailure as exc:  # AutoReconnect, ServerSelectionTimeoutError, NetworkTimeout...
        raise ConnectionFailure(f"cannot {doing} MongoDB at {where(endpoint)}: {reason(exc, endpoint)}; check that "
                                "it runs and that host, port and tls are right") from None
    except ConfigurationError as exc:  # InvalidURI, an unknown option, a replica set name that does not match...
        raise DtsError(f"cannot {doing} MongoDB at {where(endpoint)}: its settings are not valid "
                       f"({reason(exc, endpoint)}); check its uri, tls options and replica_set") from None
    except PyMongoError as exc:
        raise DtsError(f"cannot {doing} MongoDB at {where(endpoint)}: {reason(exc, endpoint)}") from None
    except Exception as exc:
        if not _raised_by_driver(exc):
            raise
        during = "authentication" if _raised_by_driver(exc, "auth") else "a command"
        raise DtsError(f"cannot {doing} MongoDB at {where(endpoint)}: the server answered {during} in a way the "
                       "MongoDB driver does not understand; check that it is a MongoDB server and that user, "
                       "password and auth_database are right") from None


def _refused(exc: OperationFailure, endpoint: dict[str, Any], doing: str) -> DtsError:
    at = f"MongoDB at {where(endpoint)}"
    if exc.code in (UNAUTHORIZED, AUTH_FAILED):
        return DtsError(f"cannot {doing} {at}: the user or password is wrong or lacks a role "
                        f"({reason(exc, endpoint)}); check user, password and auth_database")
    if exc.code in _TRANSIENT_CODES or any(exc.has_error_label(label) for label in _TRANSIENT_LABELS):
        return ConnectionFailure(f"cannot {doing} {at} right now: {reason(exc, endpoint)}; retrying")
    return DtsError(f"{at} refused to {doing} it: {reason(exc, endpoint)} (error {exc.code}); fix that on the "
                    "server or in the task, then run again")


def _raised_by_driver(exc: BaseException, module: str = "") -> bool:
    """The innermost frame of `exc` is pymongo's (its `module` when given): the server's reply was
    not what the driver expects (a KeyError on a missing field, ...), not a dtsctl bug."""
    traceback = exc.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    path = Path(traceback.tb_frame.f_code.co_filename)
    return "pymongo" in path.parts and (not module or path.stem == module)


def is_transactional(hello: dict[str, Any]) -> bool:
    """Multi-document transactions need a replica set member or a mongos (the manual, Transactions)."""
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


def reason(exc: PyMongoError, endpoint: dict[str, Any]) -> str:
    text = exc.details.get("errmsg", str(exc)) if isinstance(exc, OperationFailure) and exc.details else str(exc)
    for noise in (", Timeout:", ", full error:", " (configured timeouts:"):
        text = text.split(noise)[0]
    return _without_secrets(text, endpoint)


def _without_secrets(text: str, endpoint: dict[str, Any]) -> str:
    for secret in (endpoint.get("uri"), endpoint.get("password")):
        if secret:
            text = text.replace(str(secret), "(sensitive value)")
    return text
