"""Connections to a MongoDB endpoint, and what its failures mean to the user.

An endpoint is either a `uri` (a standard connection string, which may hold the password:
it is never written into a message) or host/port/user/password/auth_database/replica_set;
`tls` options go to the driver as they are.
"""

from __future__ import annotations

import contextlib
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
    when its options are not valid."""
    options: dict[str, Any] = {"serverSelectionTimeoutMS": TIMEOUT_MS, "connectTimeoutMS": TIMEOUT_MS,
                               "tz_aware": True, "document_class": codec.document_class, **(endpoint.get("tls") or {})}
    try:
        if endpoint.get("uri"):
            return MongoClient(endpoint["uri"], **options)
        if endpoint.get("replica_set"):
            options["replicaSet"] = endpoint["replica_set"]
        else:
            options["directConnection"] = True
        if endpoint.get("user"):
            options.update(username=endpoint["user"], password=endpoint.get("password") or "",
                           authSource=endpoint.get("auth_database") or endpoint.get("database") or "admin")
        return MongoClient(endpoint.get("host"), int(endpoint.get("port") or 27017), **options)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise DtsError(f"the MongoDB endpoint {where(endpoint)} is not valid: {_without_secrets(str(exc), endpoint)}; "
                       "check its uri, tls options and replica_set") from None


def check(client: MongoClient, endpoint: dict[str, Any]) -> dict[str, Any]:
    """Reach the server and authenticate; the server's `hello` reply."""
    with failures(endpoint, "connect to"):
        return client.admin.command("hello")


@contextlib.contextmanager
def failures(endpoint: dict[str, Any], doing: str) -> Iterator[None]:
    """Driver errors as the user's words: ConnectionFailure (retried) or DtsError."""
    try:
        yield
    except OperationFailure as exc:
        if exc.code in (UNAUTHORIZED, AUTH_FAILED):
            raise DtsError(f"cannot {doing} MongoDB at {where(endpoint)}: the user or password is wrong or lacks "
                           f"a role ({reason(exc, endpoint)}); check user, password and auth_database") from None
        raise
    except pymongo.errors.ConnectionFailure as exc:
        raise ConnectionFailure(f"cannot {doing} MongoDB at {where(endpoint)}: {reason(exc, endpoint)}; check that "
                                "it runs and that host, port and tls are right") from None


def is_transactional(hello: dict[str, Any]) -> bool:
    """Multi-document transactions need a replica set member or a mongos (the manual, Transactions)."""
    return bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"


def reason(exc: PyMongoError, endpoint: dict[str, Any]) -> str:
    text = exc.details.get("errmsg", str(exc)) if isinstance(exc, OperationFailure) and exc.details else str(exc)
    return _without_secrets(text.split(", Timeout:")[0].split(", full error:")[0], endpoint)


def _without_secrets(text: str, endpoint: dict[str, Any]) -> str:
    for secret in (endpoint.get("uri"), endpoint.get("password")):
        if secret:
            text = text.replace(str(secret), "(sensitive value)")
    return text
