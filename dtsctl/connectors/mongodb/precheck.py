"""The precheck of a MongoDB task: one actionable line per problem."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from dtsctl.connectors.mongodb import filters
from dtsctl.connectors.mongodb.client import check, connect, is_transactional, reason, where
from dtsctl.connectors.mongodb.sink import CHECKPOINTS
from dtsctl.connectors.mongodb.source import MongoSource
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.documents.naming import BOOKKEEPING_DATABASE, Selection
from dtsctl.engine.pipeline import CheckResult
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

NOT_A_REPLICA_SET = 40573  # "The $changeStream stage is only supported on replica sets"
ONE_NODE_REPLICA_SET = ("change streams need a replica set: restart mongod with `--replSet rs0` (or `replication: "
                        "{replSetName: rs0}` in mongod.conf), run `rs.initiate()` once in mongosh, and set "
                        "`replica_set: rs0` on the endpoint; a one-node replica set is enough")
SAMPLE_IDS = 1_000
_SOURCE_ACTIONS = ("find", "changeStream")
_DESTINATION_ACTIONS = ("insert", "update", "remove", "createIndex", "createCollection")


def precheck(spec: TaskSpec) -> list[CheckResult]:
    results: list[CheckResult] = []
    source = MongoSource(spec)
    destination = connect(spec.destination_endpoint) if spec.destination_endpoint else None
    try:
        return _checks(spec, source, destination, results)
    except PyMongoError as exc:  # a server that refuses a check's command: say which, never a traceback
        refused = reason(exc, spec.source_endpoint)
        results.append(CheckResult("server", False, f"MongoDB refused a precheck command: {refused}"))
        return results
    finally:
        source.close()
        if destination is not None:
            destination.close()


def _checks(spec: TaskSpec, source: MongoSource, destination: MongoClient | None,
            results: list[CheckResult]) -> list[CheckResult]:
    hellos = _connectivity(spec, source.client, destination, results)
    if hellos is None:
        return results
    selection = Selection(spec.objects)
    results += _filters(spec, source.client, selection)
    if spec.incremental:
        results.append(_change_stream(source))
    results += _privileges(source.client, selection.databases, _SOURCE_ACTIONS, "source")
    if destination is not None:
        targets = sorted({selection.destination_database(db) for db in selection.databases})
        results += _privileges(destination, targets, _DESTINATION_ACTIONS, "destination")
        results += _version(source.client, destination)
        if spec.tags is not None and not is_transactional(hellos[1]):
            results.append(CheckResult("transactions", False, "a two-way pair needs multi-document transactions "
                                       f"on {where(spec.destination_endpoint or {})}: " + ONE_NODE_REPLICA_SET))
        if "full" in spec.phases and not any(result.name == "filter" for result in results):
            results += _existing_documents(spec, source, destination, selection)
    return results


def _connectivity(spec: TaskSpec, source: MongoClient, destination: MongoClient | None,
                  results: list[CheckResult]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    hellos = []
    for role, client, endpoint in (("source", source, spec.source_endpoint),
                                   ("destination", destination, spec.destination_endpoint)):
        if client is None:
            hellos.append({})
            continue
        try:
            hellos.append(check(client, endpoint or {}))
        except DtsError as exc:
            results.append(CheckResult("connectivity", False, str(exc)))
            return None
        results.append(CheckResult("connectivity", True, f"{role} is reachable"))
    return hellos[0], hellos[1]


def _filters(spec: TaskSpec, client: MongoClient, selection: Selection) -> list[CheckResult]:
    results = []
    for db in selection.databases:
        for name in selection.collections(db) or []:
            text = selection.filter(db, name)
            if text is None:
                continue
            try:
                query = filters.parse(text)
                client[db][name].find_one(query)
            except (ValueError, OperationFailure) as exc:
                results.append(CheckResult("filter", False, f"the filter of {db}.{name} is not valid: {exc}"))
    return results


def _change_stream(source: MongoSource) -> CheckResult:
    try:
        for key in source.stream_keys():
            source.watch(key, None).close()
    except OperationFailure as exc:
        if exc.code == NOT_A_REPLICA_SET:
            return CheckResult("change stream", False, f"cannot open a change stream on {where(source.endpoint)}: "
                               + ONE_NODE_REPLICA_SET)
        return CheckResult("change stream", False, f"cannot open a change stream on {where(source.endpoint)}: "
                           f"{exc.details.get('errmsg') if exc.details else exc}")
    return CheckResult("change stream", True, "a change stream can be opened on the source")


def _privileges(client: MongoClient, databases: list[str], actions: tuple[str, ...], role: str) -> list[CheckResult]:
    """The user's privileges (connectionStatus) cover `actions` on every database; a server
    without authentication grants everything."""
    status = client.admin.command("connectionStatus", showPrivileges=True).get("authInfo") or {}
    if not status.get("authenticatedUsers"):
        return []
    granted: dict[str, set[str]] = {}
    for privilege in status.get("authenticatedUserPrivileges") or []:
        resource = privilege.get("resource") or {}
        scope = "*" if resource.get("anyResource") or resource.get("cluster") else resource.get("db", "")
        granted.setdefault(scope or "*", set()).update(privilege.get("actions") or [])
    problems = []
    for db in databases:
        have = granted.get("*", set()) | granted.get(db, set())
        missing = [action for action in actions if action not in have]
        if missing:
            needed = "read (find and changeStream)" if role == "source" else "readWrite and createIndex"
            problems.append(CheckResult("privileges", False, f"the {role} user lacks {', '.join(missing)} on "
                                        f"database {db}: grant it {needed} on {db}"))
    return problems


def _version(source: MongoClient, destination: MongoClient) -> list[CheckResult]:
    versions = []
    for client in (source, destination):
        try:
            versions.append(client.admin.command("buildInfo").get("versionArray") or [])
        except PyMongoError:
            versions.append([])
    if versions[0] and versions[1] and versions[1][:2] < versions[0][:2]:
        return [CheckResult("version", False, "the destination's MongoDB is older than the source's "
                            f"({'.'.join(map(str, versions[1][:3]))} < {'.'.join(map(str, versions[0][:3]))}): "
                            "upgrade the destination")]
    return []


def _existing_documents(spec: TaskSpec, source: MongoSource, destination: MongoClient,
                        selection: Selection) -> list[CheckResult]:
    if destination[BOOKKEEPING_DATABASE][CHECKPOINTS].find_one({"_id": spec.task_id}, {"_id": 1}) is not None:
        return [CheckResult("destination", True, "the destination holds this task's checkpoint: resuming")]
    results = []
    policy = spec.conflict_policy
    for db in selection.databases:
        for name in source.collections(db):
            target_db, target = selection.destination(db, name)
            if destination[target_db][target].estimated_document_count() == 0:
                continue
            query = filters.parse(selection.filter(db, name)) or {}
            ids = [document["_id"] for document in source.client[db][name].find(query, {"_id": 1}).limit(SAMPLE_IDS)]
            same = destination[target_db][target].count_documents({"_id": {"$in": ids}}) if ids else 0
            clash = f"; {same} of its first {len(ids)} source _ids are already there" if same else ""
            if policy is ConflictPolicy.FAIL:
                results.append(CheckResult("destination", False, f"the destination collection {target_db}.{target} "
                                           f"already holds documents{clash}: empty it, or set conflict_policy to "
                                           "ignore (keep them) or overwrite (replace them by the source's)"))
            elif same:
                kept = "kept" if policy.keeps_destination else "replaced by the source's"
                results.append(CheckResult("destination", True, f"{target_db}.{target}: {same} of the first "
                                           f"{len(ids)} source _ids are already there and will be {kept} "
                                           f"(conflict_policy {policy.value})", warning=True))
    return results
