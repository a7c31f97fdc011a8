"""The MongoDB connector the document pipeline plugs in (dtsctl.engine.documents.interfaces)."""

from __future__ import annotations

import contextlib

from typing import Any

from dtsctl.connectors.mongodb.codec import readable
from dtsctl.connectors.mongodb.precheck import precheck
from dtsctl.connectors.mongodb.sink import MongoSink
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.connectors.mongodb.verify import verify
from dtsctl.engine.pipeline import CheckResult
from dtsctl.engine.verification import ObjectReport, VerifyOptions, VerifyProgress
from dtsctl.engine.task import TaskSpec


class MongoConnector:
    def source(self, spec: TaskSpec) -> MongoSource:
        return MongoSource(spec)

    def sink(self, spec: TaskSpec) -> MongoSink:
        return MongoSink(spec)

    def precheck(self, spec: TaskSpec) -> list[CheckResult]:
        return precheck(spec)

    def teardown(self, spec: TaskSpec) -> None:
        if spec.destination_endpoint is None:
            return  # a subscription keeps nothing on its source
        with contextlib.closing(MongoSink(spec)) as sink:
            sink.delete_checkpoint()

    def verify(self, spec: TaskSpec, options: VerifyOptions, progress: VerifyProgress) -> list[ObjectReport]:
        return verify(spec, options, progress)

    def readable(self, packed: str) -> dict[str, Any]:
        return readable(packed)


CONNECTOR = MongoConnector()
