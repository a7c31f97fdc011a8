"""The etcd key-value store through its HTTP gateway (etcd3gw): JSON values, leases, and the
transactions the cluster runtime needs. Any endpoint of the cluster will do: a request that
cannot reach one tries the next, so losing an etcd member (the leader included) is invisible
to callers as long as a quorum answers."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from etcd3gw.client import Etcd3Client
from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError, Etcd3Exception, InternalServerError

from dtsctl.config.model import Runtime
from dtsctl.errors import DtsError

REQUEST_SECONDS = 2.0  # one request's timeout (the "retry timeout" of the lease rule)
PASSWORD_ENV = "DTSCTL_ETCD_PASSWORD"


class StoreUnavailable(DtsError):
    """No etcd endpoint answered."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: Any
    create_revision: int
    mod_revision: int
    lease: int


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    raw = prefix.encode()
    return base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()


def prefix_range(prefix: str) -> tuple[str, str]:
    """The gateway's (key, range_end) for every key under `prefix`."""
    return _b64(prefix), _prefix_end(prefix)


class _Session(requests.Session):
    """A session whose own `verify` (the runtime's CA file) is used even when REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE is set: requests otherwise lets those win over a session's setting
    (psf/requests#3829), and etcd's certificate would be checked against the wrong CAs."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings


class EtcdStore:
    def __init__(self, settings: Runtime) -> None:
        self.settings = settings
        self._clients = [self._client(url) for url in settings.endpoints]
        self._current = 0

    def _client(self, url: str) -> Etcd3Client:
        parts = urlsplit(url)
        session = _Session()
        tls = self.settings.tls
        if tls.ca:
            session.verify = tls.ca
        if tls.cert and tls.key:
            session.cert = (tls.cert, tls.key)
        return Etcd3Client(host=parts.hostname or "127.0.0.1", port=parts.port or 2379,
                           protocol=parts.scheme or "http", timeout=REQUEST_SECONDS, api_path="/v3/",
                           session=session)

    # -- transport --------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first endpoint that answers, starting with the last one that did."""
        failures = []
        for attempt in range(len(self._clients)):
            index = (self._current + attempt) % len(self._clients)
            client = self._clients[index]
            try:
                answer = self._signed_in_post(client, path, body)
            except (ConnectionFailedError, ConnectionTimeoutError, InternalServerError) as exc:
                # unreachable, or a member cut off from the quorum: another member may answer
                failures.append(f"{self.settings.endpoints[index]}: {_unreachable(exc)}")
                continue
            except Etcd3Exception as exc:
                raise DtsError(f"etcd refused a request ({_detail(exc)}); check the runtime's username and "
                               f"{PASSWORD_ENV}") from exc
            self._current = index
            return answer
        raise StoreUnavailable(f"no etcd endpoint answered ({'; '.join(failures)}); check `runtime.endpoints` "
                               "and that a majority of the etcd members are up")

    def _signed_in_post(self, client: Etcd3Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the user's token; etcd drops a token unused for its TTL (`--auth-token-ttl`, 5 min
        by default), so one it no longer knows is replaced by signing in again, once."""
        self._authenticate(client)
        try:
            return client.post(client.get_url(path), data=json.dumps(body))
        except Etcd3Exception as exc:
            if _detail(exc) != "invalid auth token" or "Authorization" not in client.session.headers:
                raise
        del client.session.headers["Authorization"]
        self._authenticate(client)
        return client.post(client.get_url(path), data=json.dumps(body))

    def _authenticate(self, client: Etcd3Client) -> None:
        if self.settings.username and "Authorization" not in client.session.headers:
            client.session.headers["Authorization"] = self._sign_in(client)

    def _sign_in(self, client: Etcd3Client) -> str:
        """A new auth token for the runtime's user."""
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise DtsError(f"the runtime names etcd user {self.settings.username}: set {PASSWORD_ENV} to its password")
        answer = client.post(client.get_url("/auth/authenticate"),
                             data=json.dumps({"name": self.settings.username, "password": password}))
        return str(answer["token"])

    def watch_endpoint(self, attempt: int) -> tuple[requests.Session, str, dict[str, str]]:
        """The session (TLS), watch URL and headers of the endpoint to try on `attempt` (0, 1, ...). Each
        watch signs in afresh: a token dropped while the watch was open would fail every reopening."""
        client = self._clients[attempt % len(self._clients)]
        headers = {"Authorization": self._sign_in(client)} if self.settings.username else {}
        return client.session, client.get_url("/watch"), headers

    # -- keys -------------------------------------------------------------------------
    @staticmethod
    def decode_key(encoded: str) -> str:
        return base64.b64decode(encoded).decode()

    def key(self, *parts: str) -> str:
        return "/".join((self.settings.prefix, *parts))

    def get(self, key: str) -> Entry | None:
        found = self._range({"key": _b64(key)})
        return found[0] if found else None

    def get_prefix(self, prefix: str) -> list[Entry]:
        key, range_end = prefix_range(prefix)
        return self._range({"key": key, "range_end": range_end})

    def _range(self, request: dict[str, Any]) -> list[Entry]:
        return [_entry(kv) for kv in self._post("/kv/range", request).get("kvs", [])]

    def put(self, key: str, value: Any, lease: int | None = None) -> None:
        self._post("/kv/put", _put(key, value, lease))

    def delete(self, key: str) -> None:
        self._post("/kv/deleterange", {"key": _b64(key)})

    def delete_prefix(self, prefix: str) -> None:
        key, range_end = prefix_range(prefix)
        self._post("/kv/deleterange", {"key": key, "range_end": range_end})

    def create(self, key: str, value: Any, lease: int) -> int | None:
        """Put `key` bound to `lease` only if it is absent; the new key's revision, or None."""
        answer = self._post("/kv/txn", {
            "compare": [{"key": _b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
            "success": [{"request_put": _put(key, value, lease)}], "failure": []})
        return int(answer["header"]["revision"]) if answer.get("succeeded") else None

    def delete_if(self, key: str, create_revision: int) -> bool:
        """Delete `key` only while it is the same key (created at `create_revision`)."""
        answer = self._post("/kv/txn", {
            "compare": [{"key": _b64(key), "result": "EQUAL", "target": "CREATE",
                         "create_revision": str(create_revision)}],
            "success": [{"request_delete_range": {"key": _b64(key)}}], "failure": []})
        return bool(answer.get("succeeded"))

    # -- leases -----------------------------------------------------------------------
    def grant(self, ttl: int) -> int:
        return int(self._post("/lease/grant", {"TTL": str(ttl)})["ID"])

    def refresh(self, lease: int) -> int:
        """Renew `lease`; its remaining TTL, or -1 when it expired (its keys are gone)."""
        result = self._post("/lease/keepalive", {"ID": str(lease)}).get("result", {})
        return int(result.get("TTL", -1))

    def revoke(self, lease: int) -> None:
        """Revoke `lease` (its keys go at once); an expired lease is already gone."""
        try:
            self._post("/kv/lease/revoke", {"ID": str(lease)})
        except StoreUnavailable:
            raise
        except DtsError as exc:
            if "lease not found" not in exc.message:
                raise


def _put(key: str, value: Any, lease: int | None) -> dict[str, Any]:
    request = {"key": _b64(key), "value": _b64(json.dumps(value, sort_keys=True))}
    if lease:
        request["lease"] = str(lease)
    return request


def _entry(kv: dict[str, Any]) -> Entry:
    return Entry(EtcdStore.decode_key(kv["key"]), json.loads(base64.b64decode(kv.get("value", "")) or b"null"),
                 int(kv.get("create_revision", 0)), int(kv.get("mod_revision", 0)), int(kv.get("lease", 0)))


def _detail(exc: Etcd3Exception) -> str:
    """etcd's own reason, without its "etcdserver: " prefix."""
    try:
        error = json.loads(exc.detail_text).get("error")  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        error = None
    return error.removeprefix("etcdserver: ") if error else (str(exc) or "no reason given")


def _unreachable(exc: Etcd3Exception) -> str:
    """Why an endpoint did not answer, in a user's words."""
    if isinstance(exc, ConnectionTimeoutError):
        return f"no answer within {REQUEST_SECONDS:g} s"
    if isinstance(exc, ConnectionFailedError):
        text = str(getattr(exc, "detail_text", "") or "")
        if "SSL" in text or "certificate" in text.lower():
            return "the TLS handshake failed: check `runtime.tls` (ca, cert, key)"
        return "cannot connect"
    return _detail(exc)
