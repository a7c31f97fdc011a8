"""dtsctl's own per-document cost on the MongoDB path, with the server's time left out, in one run.

    .venv/bin/python bench/mongodb_bench.py [--quick] [--documents 200000] [--profile]

No speed figure against a server is meaningful here (the only MongoDB-wire server on the test
machine, nx-27017, is SQLite-backed and far slower than mongod), so this measures what dtsctl
adds per document, from the change event as the driver receives it (BSON bytes) to the write
as the driver sends it (BSON bytes):

- **dtsctl**: read the event as the source's raw client does (`RawBSONDocument`), translate
  it (connectors/mongodb/events.py: the document is packed, its bytes untouched), group it
  into a record, store it in the change log (a real SQLite file, `synchronous=FULL`, 500
  records per append as the reader does), read it back, route and rename it
  (engine/documents/applier.py), and unpack the document the sink hands to the driver.
- **native baseline**: a plain pymongo replicator, `replace_one(..., change["fullDocument"])`
  per event: decode the event into dicts and encode its `fullDocument` as the write.

The ratio baseline/dtsctl is the share of the native rate dtsctl keeps; `--profile` prints
where dtsctl's time goes (cProfile, top 15 by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import pstats
import tempfile
import time
from pathlib import Path

import bson
from bson import Decimal128, Int64, ObjectId, Timestamp

from dtsctl.connectors.mongodb.codec import RAW_CODEC, to_ejson, unpack
from dtsctl.connectors.mongodb.events import translate
from dtsctl.engine.changelog import ChangeLog
from dtsctl.engine.conflicts import ConflictPolicy, Conflicts
from dtsctl.engine.documents.applier import DocumentApplier
from dtsctl.engine.documents.changes import Record
from dtsctl.engine.documents.naming import Selection

APPEND_EVERY = 500
OPTIONS = bson.CodecOptions(tz_aware=True)


def events(count: int) -> list[bytes]:
    """Change events as the driver receives them: 60% inserts, 30% updates (looked up), 10% deletes."""
    wall = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    made = []
    for n in range(count):
        op = "insert" if n % 10 < 6 else "update" if n % 10 < 9 else "delete"
        _id = ObjectId()
        event = {"_id": {"_data": f"8266{n:020d}"}, "operationType": op, "clusterTime": Timestamp(1714557600, n),
                 "wallTime": wall, "ns": {"db": "shop", "coll": "orders"}, "documentKey": {"_id": _id}}
        if op != "delete":
            event["fullDocument"] = {"_id": _id, "customer": Int64(n % 5000), "total": Decimal128(f"{n}.25"),
                                     "items": [{"sku": f"sku-{n % 97}", "qty": n % 5 + 1, "price": 9.5}],
                                     "status": "paid", "created": wall, "note": "x" * 40}
        made.append(bson.encode(event, codec_options=OPTIONS))
    return made


def native(raw: list[bytes]) -> float:
    started = time.perf_counter()
    for data in raw:
        event = bson.decode(data, codec_options=OPTIONS)
        if event.get("fullDocument") is not None:
            bson.encode(event["fullDocument"])
    return time.perf_counter() - started


def dtsctl(raw: list[bytes], folder: Path) -> float:
    changelog = ChangeLog(folder / "changelog.db")
    applier = DocumentApplier(None, changelog, Selection(({"database": "shop", "rename": "shop2"},)),  # type: ignore[arg-type]
                              None, Conflicts(ConflictPolicy.FAIL), create_schema=False)  # type: ignore[arg-type]
    started = time.perf_counter()
    pending: list[Record] = []
    for data in raw:
        translated = translate(bson.decode(data, codec_options=RAW_CODEC))
        pending.append(Record((translated.change,), None, translated.commit_time))
        if len(pending) == APPEND_EVERY:
            changelog.append(pending, {"streams": {"*": to_ejson(translated.token)}})  # as the source does
            pending = []
    if pending:
        changelog.append(pending, None)
    for _, position, commit_time, payload in changelog.read_raw(0, len(raw)):
        record = Record.from_payload(payload, position, commit_time)
        for change in applier._routed(record.changes):
            if change.document is not None:
                unpack(change.document).raw  # what the driver writes for a RawBSONDocument
    elapsed = time.perf_counter() - started
    changelog.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 documents")
    parser.add_argument("--profile", action="store_true", help="print where dtsctl's time goes")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.documents
    raw = events(count)
    with tempfile.TemporaryDirectory() as folder:
        baseline = native(raw)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
        ours = dtsctl(raw, Path(folder))
        if args.profile:
            profile.disable()
    print(f"documents: {count}")
    print(f"native decode + encode: {count / baseline:,.0f} documents/s")
    print(f"dtsctl translate + change log + route + unpack: {count / ours:,.0f} documents/s")
    print(f"ratio dtsctl/native: {baseline / ours:.1%}   dtsctl's own cost: {(ours - baseline) / count * 1e6:.1f} µs/document")
    if args.profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
