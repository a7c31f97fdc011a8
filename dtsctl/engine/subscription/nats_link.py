"""A blocking connection to a NATS cluster: nats-py is asyncio, the store's callers are threads.

The client runs on its own event-loop thread; `call` runs one coroutine there and waits.
A request that fails because the server it went to died or lost its JetStream leader is
tried again (the client reconnects to another server of the cluster) until RETRY_SECONDS.
Credentials come from the environment, never from the declaration or the state.
"""

from __future__ import annotations

import asyncio
import os
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

    @classmethod
    def from_attribute(cls, value: dict[str, Any]) -> "NatsSettings":
        return cls(tuple(value["nats"]), int(value["replicas"]), value["name"], value.get("username"))


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
            self.nc = self._run(self._connect(), REQUEST_SECONDS * 4)
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
        try:
            return await nats.connect(servers=list(self.settings.servers), connect_timeout=2, reconnect_time_wait=0.5,
                                      max_reconnect_attempts=-1, allow_reconnect=True, name="dtsctl", **options)
        except (OSError, nats.errors.Error) as exc:
            raise DtsError(f"cannot reach the NATS servers {', '.join(self.settings.servers)} ({exc}); check "
                           f"`workspace.runtime.subscriptions.nats` and the credentials ({PASSWORD_ENV} or "
                           f"{TOKEN_ENV})") from exc

    def _run(self, coroutine: Awaitable[T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)  # type: ignore[arg-type]

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
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(REQUEST_SECONDS)
        self._loop.close()
