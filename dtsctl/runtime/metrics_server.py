"""The supervisor's metrics endpoint: served where `workspace.json` says, while it says so.

`apply` records the workspace's `workspace.metrics` setting in `workspace.json`; the
supervisor calls `follow()` on every pass, so the endpoint opens, moves or closes
within a second of an apply. prometheus_client is imported only once metrics are on.
"""

from __future__ import annotations

import logging
from typing import Any

from dtsctl.jsonfile import read_json
from dtsctl.runtime.layout import RuntimePaths

log = logging.getLogger("dtsctl.supervisor")


def declared_address(runtime: RuntimePaths) -> str | None:
    settings = read_json(runtime.settings, {}) or {}
    return (settings.get("metrics") or {}).get("address")


class MetricsEndpoint:
    def __init__(self, runtime: RuntimePaths) -> None:
        self.runtime = runtime
        self.address: str | None = None  # the declared address this follows (served, or failed to)
        self._server: Any = None

    def follow(self) -> None:
        wanted = declared_address(self.runtime)
        if wanted == self.address:
            return
        self.close()
        self.address = wanted
        if wanted:
            self._open(wanted)

    def _open(self, address: str) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        from dtsctl.runtime.metrics import WorkspaceCollector

        host, _, port = address.rpartition(":")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WorkspaceCollector(self.runtime))
        try:
            self._server, _thread = start_http_server(int(port), host.strip("[]"), registry)
        except OSError as exc:  # the address is taken or not ours: tasks keep running without metrics
            log.error("cannot serve metrics at %s (%s); free it or declare another workspace.metrics.address "
                      "and apply", address, exc.strerror or exc)
            return
        log.info("serving Prometheus metrics at http://%s/metrics", address)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
