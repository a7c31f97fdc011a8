"""A blocking connection to a NATS cluster: nats-py is asyncio, the store's callers are threads.

The client runs on its own event-loop thread; `call` runs one coroutine there and waits.
A request that fails because the server it went to died or lost its JetStream leader is
tried again (the client reconnects to another server of the cluster) until RETRY_SECONDS.
Credentials come from the environment, never from the declaration or the state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import nats
import nats.errors
import nats.js.errors

from dtsctl.errors import DtsError

T = TypeVar("T")

PASSWORD_ENV = "DTSCTL_NATS_PASSWORD"
TOKEN_ENV = "DTSCTL_NATS_TOKEN"
REQUEST_SECONDS = 3.0
CONNECT_SECONDS = REQUEST_SECONDS * 4
RETRY_SECONDS = 30.0
# what a request meets while a server dies or a stream's leader moves: worth trying again
_TRANSIENT = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError,
              nats.errors.ConnectionReconnectingError, nats.js.errors.ServiceUnavailableError,
              nats.js.errors.NoStreamResponseError, asyncio.TimeoutError)


@dataclass(frozen=True)
class NatsSettings:
    """Where a task's records live on the cluster runtime (the task's `record_store` attribute)."""

    servers: tuple[str, ...]
    replicas: int
    name: str  # the stream's name; its consumer groups' bucket is named after it
    username: str | None = None
    tls: tuple[tuple[str, str], ...] = ()  # ("ca" | "cert" | "key", file path): the same paths on every host

    @classmethod
    def from_attribute(cls, value: dict[str, Any]) -> "NatsSettings":
        return cls(tuple(value["nats"]), int(value["replicas"]), value["name"], value.get("username"),
                   tuple(sorted((value.get("tls") or {}).items())))

    def tls_context(self) -> ssl.SSLContext | None:
        """TLS to the servers: with the declared CA (else the system's) and client certificate."""
        files = dict(self.tls)
        if not files and not any(server.startswith("tls://") for server in self.servers):
            return None
        try:
            context = ssl.create_default_context(cafile=files.get("ca"))
            if files.get("cert"):
                context.load_cert_chain(files["cert"], files.get("key"))
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DtsError(f"cannot load the NATS TLS files {', '.join(files.values())} ({reason}); check "
                           "`workspace.runtime.subscriptions.tls` (the same paths on every host)") from exc
        return context


def unavailable(error: BaseException) -> DtsError:
    """What a caller gets when the cluster kept failing a request for RETRY_SECONDS."""
    return DtsError(f"the NATS cluster did not answer for {RETRY_SECONDS:g}s ({error!r}); "
                    "is a majority of its servers up?")


class NatsLink:
    def __init__(self, settings: NatsSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats", daemon=True)
        self._thread.start()
        try:
            self.nc = self._run(self._connect(), CONNECT_SECONDS)
        except concurrent.futures.TimeoutError as exc:  # the client kept trying (a TLS handshake refused, ...)
            self._stop_loop()
            raise self._unreachable(f"no connection within {CONNECT_SECONDS:g}s") from exc
        except BaseException:
            self._stop_loop()
            raise
        self.js = self.nc.jetstream(timeout=REQUEST_SECONDS)

    async def _connect(self) -> Any:
        password, token = os.environ.get(PASSWORD_ENV), os.environ.get(TOKEN_ENV)
        if self.settings.username and not password:
            raise DtsError(f"the NATS user {self.settings.username} needs its password in {PASSWORD_ENV}")
        options: dict[str, Any] = {"user": self.settings.username, "password": password} if self.settings.username \
            else ({"token": token} if token else {})
        context = self.settings.tls_context()
        if context is not None:
            options["tls"] = context
        try:
            return await nats.connect(servers=list(self.settings.servers), connect_timeout=2, reconnect_time_wait=0.5,
                                      max_reconnect_attempts=-1, allow_reconnect=True, name="dtsctl", **options)
        except (OSError, nats.errors.Error) as exc:
            raise self._unreachable(str(exc)) from exc

    def _unreachable(self, reason: str) -> DtsError:
        return DtsError(f"cannot reach the NATS servers {', '.join(self.settings.servers)} ({reason}); check "
                        f"`workspace.runtime.subscriptions.nats`, `.tls` and the credentials ({PASSWORD_ENV} or "
                        f"{TOKEN_ENV})")

    def _run(self, coroutine: Awaitable[T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # not left pending on the loop
            raise

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make()` on the client's loop; try again while the cluster fails over."""
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                return self._run(make(), REQUEST_SECONDS * 2)
            except _TRANSIENT as exc:
                if time.monotonic() > deadline:
                    raise unavailable(exc) from exc
                time.sleep(0.2)

    @staticmethod
    def transient(error: BaseException) -> bool:
        """Whether `error` is one a request meets while the cluster fails over (try it again)."""
        return isinstance(error, _TRANSIENT)

    def close(self) -> None:
        try:
            self._run(self.nc.close(), REQUEST_SECONDS)
        except Exception:  # closing a connection to a lost cluster: nothing left to do
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        """Cancel what still runs on the loop (a connect still retrying, the client's tasks), then stop it."""
        try:
            asyncio.run_coroutine_threadsafe(_cancel_pending(), self._loop).result(REQUEST_SECONDS)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(REQUEST_SECONDS)
        self._loop.close()


async def _cancel_pending() -> None:
    pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
