"""Pydantic models of a resolved declaration (after templating).

Every model forbids unknown keys, so a typo such as `destinaton` is reported
instead of silently ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dtsctl import registry
from dtsctl.engine.conflicts import ConflictPolicy
from dtsctl.engine.task import ALL_DML, ALL_PHASES, CONNECTION_RETRY_MINUTES
from dtsctl.schedule import RUN_PLACEHOLDERS, cron_problem

# Every field carries `examples`: the accepted forms, written as in a declaration. A problem with a
# field's value quotes them (`port: got "abc"; expected a whole number from 1 to 65535, e.g. `port: 3306``).

Engine = Literal[registry.engine_names()]  # type: ignore[valid-type]
TaskType = Literal["migration", "synchronization", "subscription"]
Phase = Literal[ALL_PHASES]  # type: ignore[valid-type]
DmlOp = Literal[ALL_DML]  # type: ignore[valid-type]
ConflictPolicyName = Literal[tuple(policy.value for policy in ConflictPolicy)]  # type: ignore[valid-type]
DesiredStatus = Literal["running", "paused"]
# What a task does when its source no longer has the position its stream resumes from
PositionLost = Literal["fail", "reseed"]
TopologyType = Literal["one-way", "one-to-many", "cascade", "two-way"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Variable(Strict):
    default: Any = Field(default=None, examples=["3306", "[orders, items]"])
    description: str | None = Field(default=None, examples=['"where the primary runs"'])
    sensitive: bool = Field(default=False, examples=["true"])
    type: Literal["string", "number", "bool", "list", "map", "any"] = Field(default="any", examples=["number"])

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set


class SentinelSet(Strict):
    """The Sentinels that manage a Redis master (DTS's dynamic endpoint detection)."""

    hosts: list[str] = Field(min_length=1, examples=['["10.0.0.7:26379", "10.0.0.8:26379", "10.0.0.9:26379"]'])
    master: str = Field(min_length=1, examples=["mymaster"])  # the name in `sentinel monitor <name> ...`
    password: str | None = Field(default=None, examples=['"${ var.sentinel_password }"'])  # the Sentinels' own

    @field_validator("hosts")
    @classmethod
    def _host_and_port(cls, hosts: list[str]) -> list[str]:
        return _hosts_and_ports(hosts, "Sentinel", 'hosts: ["10.0.0.7:26379", "10.0.0.8:26379"]')


def _hosts_and_ports(values: list[str], what: str, example: str) -> list[str]:
    """`values` when each is host:port; else the problem, naming every bad one."""
    bad = [value for value in values if not _is_host_and_port(value)]
    if bad:
        raise ValueError(f"{', '.join(f'`{value}`' for value in bad)} not host:port; write each {what} as "
                         f"host:port with a port from 1 to 65535, e.g. `{example}`")
    return values


def _is_host_and_port(text: str) -> bool:
    name, _, port = text.rpartition(":")
    return bool(name) and port.isdigit() and 1 <= int(port) <= 65535


class Endpoint(Strict):
    engine: Engine = Field(examples=["mysql"])
    host: str | None = Field(default=None, examples=["10.0.0.5"])
    port: int | None = Field(default=None, ge=1, le=65535, examples=["3306"])
    user: str | None = Field(default=None, examples=["dts"])
    password: str | None = Field(default=None, examples=['"${ var.password }"'])
    path: str | None = Field(default=None, examples=["./lake.db"])  # sqlite: the database file, relative to the workspace
    database: str | None = Field(default=None, examples=["admin"])  # mongodb: authentication database (older name)
    cluster: bool = Field(default=False, examples=["true"])  # redis: the endpoint is a Redis Cluster (seed node)
    # redis: the master these Sentinels name, instead of `host`
    sentinel: SentinelSet | None = Field(default=None, examples=['{hosts: ["10.0.0.7:26379", "10.0.0.8:26379"], master: mymaster}'])
    # mongodb: a standard connection string instead of host/port/user/password (sensitive: it may hold one)
    uri: str | None = Field(default=None, examples=['"${ env.MONGO_URI }"'])
    auth_database: str | None = Field(default=None, examples=["admin"])  # mongodb: authentication database
    replica_set: str | None = Field(default=None, examples=["rs0"])  # mongodb: the replica set's name
    # mongodb: TLS options passed to the driver as they are, e.g. {tls: true, tlsCAFile: /etc/ca.pem}
    tls: dict[str, str | bool] | None = Field(default=None, examples=["{tls: true, tlsCAFile: /etc/ssl/ca.pem}"])
    # mysql: servers that may be promoted in the primary's place; the agent follows the writable one
    replicas: list[str] | None = Field(default=None, examples=['["10.0.0.6:3306", "10.0.0.7:3306"]'])

    @field_validator("replicas")
    @classmethod
    def _replica_hosts(cls, replicas: list[str] | None) -> list[str] | None:
        return None if replicas is None else _hosts_and_ports(replicas, "replica", 'replicas: ["10.0.0.6:3306"]')

    @model_validator(mode="after")
    def _engine_fields(self) -> "Endpoint":
        if self.replicas and not registry.engine(self.engine).replicas:
            raise ValueError(f"`replicas` is for mysql endpoints; a {self.engine} endpoint cannot list them")
        if self.sentinel is not None:
            if not registry.engine(self.engine).sentinel:
                raise ValueError(f"`sentinel` is for redis endpoints; a {self.engine} endpoint names its `host`")
            if self.host or self.port or self.cluster:
                raise ValueError("a Sentinel-managed endpoint gets its master from the Sentinels: "
                                 "remove `host`, `port` and `cluster`, or remove `sentinel`")
        elif self.uri is not None:
            if not registry.engine(self.engine).uri:
                raise ValueError(f"`uri` is for mongodb endpoints; a {self.engine} endpoint names its `host`")
            if self.host or self.port or self.user or self.password:
                raise ValueError("give either `uri` or host/port/user/password, not both")
        elif registry.engine(self.engine).location == "path":
            if not self.path:
                raise ValueError(f"a {self.engine} endpoint needs `path` (the database file)")
        elif not self.host:
            also = " (or, for a Sentinel-managed master, `sentinel`)" if registry.engine(self.engine).sentinel else ""
            raise ValueError(f"a {self.engine} endpoint needs `host`{also}")
        return self


class ObjectSelection(Strict):
    database: str | int = Field(examples=["shop", "0"])  # redis: a db number
    tables: list[str] | None = Field(default=None, examples=["[orders, items]"])
    all: bool = Field(default=False, examples=["true"])
    rename: str | int | None = Field(default=None, examples=["shop_copy", "1"])
    table_rename: dict[str, str] = Field(default_factory=dict, examples=["{orders: orders_v2}"])
    filter: dict[str, str] = Field(default_factory=dict, examples=['{orders: "amount > 100"}'])
    dml: list[DmlOp] = Field(default_factory=lambda: list(ALL_DML), examples=["[insert, update]"])
    ddl: bool = Field(default=True, examples=["false"])
    key_prefixes: list[str] | None = Field(default=None, examples=['["user:", "session:"]'])  # redis
    # redis: added to every TTL on the destination
    extend_ttl_seconds: int | None = Field(default=None, ge=0, examples=["60"])
    collections: list[str] | None = Field(default=None, examples=["[users, orders]"])  # mongodb
    collection_rename: dict[str, str] = Field(default_factory=dict, examples=["{users: customers}"])  # mongodb

    @model_validator(mode="after")
    def _tables_or_all(self) -> "ObjectSelection":
        if self.all and self.tables is not None:
            raise ValueError("give either `tables` or `all: true`, not both")
        for name in list(self.table_rename) + list(self.filter):
            if self.tables is not None and name not in self.tables:
                raise ValueError(f"table `{name}` is renamed or filtered but not listed in `tables`")
        for name in list(self.collection_rename) + list(self.filter):
            if self.collections is not None and name not in self.collections:
                raise ValueError(f"collection `{name}` is renamed or filtered but not listed in `collections`")
        return self


CLOCK_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ThrottleWindow(Strict):
    """A time of day (from inclusive, to exclusive; may cross midnight) with its own limits;
    a limit left out is the throttle's own."""

    from_: str = Field(alias="from", examples=["09:00"])
    to: str = Field(examples=["18:00"])
    rps: float | None = Field(default=None, ge=0, examples=["2000"])
    mbps: float | None = Field(default=None, ge=0, examples=["20"])

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("from_", "to")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not CLOCK_TIME.match(value):
            raise ValueError(f"`{value}` is not a time of day; write it as HH:MM, e.g. 09:00 or 18:30")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> "ThrottleWindow":
        if self.from_ == self.to:
            raise ValueError(f"throttle window from {self.from_} to {self.to} is empty; give different times")
        return self


class Throttle(Strict):
    rps: float = Field(default=0, ge=0, examples=["1000"])
    mbps: float = Field(default=0, ge=0, examples=["50"])
    # the first window that holds the time wins
    windows: list[ThrottleWindow] = Field(default_factory=list, examples=['[{from: "09:00", to: "18:00", rps: 2000}]'])
    timezone: str = Field(default="UTC", examples=["Asia/Shanghai"])  # of the windows' times

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    def attributes(self) -> dict[str, Any]:
        """As task attributes: windows and their time zone only when there are windows, so a task
        declared before windows existed keeps its recorded attributes."""
        dumped = self.model_dump(by_alias=True)
        return dumped if self.windows else {"rps": self.rps, "mbps": self.mbps}


def known_timezone(name: str) -> str:
    """`name` when it is an IANA time zone (e.g. UTC, Asia/Shanghai), else a ValueError saying so."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone `{name}`; use an IANA name such as UTC or Asia/Shanghai") from None
    return name


class Retry(Strict):
    connection_minutes: float = Field(default=CONNECTION_RETRY_MINUTES, gt=0, examples=["720"])
    other_minutes: float = Field(default=10, gt=0, examples=["10"])


class Schedule(Strict):
    """When a migration task runs: a cron expression (5 fields, or 6 with seconds last)."""

    cron: str = Field(examples=['"0 2 * * *"'])
    timezone: str = Field(default="UTC", examples=["Asia/Shanghai"])

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)


class Alerts(Strict):
    """Alerts the supervisor posts to a webhook: lag over a threshold for a while, and failure."""

    webhook: str = Field(examples=["${ var.hook_url }"])
    lag_seconds: float | None = Field(default=None, gt=0, examples=["60"])
    for_seconds: float = Field(default=0, ge=0, examples=["120"])
    on_failure: bool = Field(default=True, examples=["true"])

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            # the URL may hold a token: do not repeat it
            raise ValueError("the webhook must be an http:// or https:// URL")
        return value


class Cutover(Strict):
    """Switch the application from a task's source to its destination, as one planned change
    (docs/declaration.md, Cutover): precheck the lag, freeze the source, drain, verify, complete."""

    max_lag: float = Field(default=5, gt=0, examples=["5"])  # seconds: the precheck's bound
    freeze_source: bool = Field(default=True, examples=["false"])  # stop writes at the source during the switch
    verify: bool = Field(default=True, examples=["false"])  # compare both ends before completing
    reverse: bool = Field(default=False, examples=["true"])  # keep the old source in sync for rollback
    unfreeze_source: bool = Field(default=False, examples=["true"])  # allow writes at the old source afterwards


class VerifyDeclaration(Strict):
    """Verification run by dtsctl for a task: once after the full copy, and on a schedule."""

    after_full: bool = Field(default=False, examples=["true"])
    schedule: str | None = Field(default=None, examples=['"0 3 * * *"'])  # cron, UTC

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        problem = cron_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


class Lifecycle(Strict):
    prevent_destroy: bool = Field(default=False, examples=["true"])


class Retention(Strict):
    """How long a subscription keeps records: whichever bound is reached first (0: no bound)."""

    hours: float = Field(default=24, ge=0, examples=["24"])
    megabytes: float = Field(default=0, ge=0, examples=["512"])


class ConsumerGroup(Strict):
    start: Literal["latest", "earliest"] = Field(default="latest", examples=["earliest"])  # where a new group starts reading


class NamedConsumerGroup(ConsumerGroup):
    """One block of `consumer_groups` written as a list of named blocks (`[{name: billing}]`)."""

    name: str = Field(examples=["billing"])


class Delivery(Strict):
    endpoint: str = Field(examples=["cache"])  # a redis endpoint
    stream: str = Field(min_length=1, examples=["orders-changes"])  # the stream key records are XADDed to


GROUP_NAME = r"^[A-Za-z0-9_.-]+$"


class Task(Strict):
    type: TaskType = Field(examples=["synchronization"])
    source: str = Field(examples=["bj"])
    destination: str | None = Field(default=None, examples=["sh"])
    phases: list[Phase] = Field(default_factory=lambda: list(ALL_PHASES), examples=["[schema, full]"])
    objects: list[ObjectSelection] = Field(min_length=1, examples=["[{database: shop, tables: [orders]}]"])
    conflict_policy: ConflictPolicyName = Field(default=ConflictPolicy.FAIL.value, examples=["overwrite"])
    on_position_lost: PositionLost = Field(default="fail", examples=["reseed"])
    throttle: Throttle = Field(default_factory=Throttle, examples=["{rps: 1000, mbps: 50}"])
    retry: Retry = Field(default_factory=Retry, examples=["{connection_minutes: 60}"])
    status: DesiredStatus = Field(default="running", examples=["paused"])
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, examples=["{prevent_destroy: true}"])
    retention: Retention | None = Field(default=None, examples=["{hours: 48}"])  # subscription only
    # subscription only: names, named blocks, or a mapping of names to options
    consumer_groups: list[str | NamedConsumerGroup] | dict[str, ConsumerGroup | None] | None = Field(
        default=None, examples=["[billing, audit]", "[{name: billing, start: earliest}]", "{billing: {start: earliest}}"],
        json_schema_extra={"accepts": "a list of group names or of {name: ..., start: ...} blocks, or a mapping of group names to options"})
    deliver_to: Delivery | None = Field(default=None, examples=["{endpoint: cache, stream: orders-changes}"])  # subscription only
    # migration only: run the copy at these times
    schedule: Schedule | None = Field(default=None, examples=['{cron: "0 2 * * *", timezone: UTC}'])
    alerts: Alerts | None = Field(default=None, examples=["{lag_seconds: 60, for_seconds: 120, webhook: ${ var.hook_url }}"])
    cutover: Cutover | None = Field(default=None, examples=["{freeze_source: true, reverse: true, max_lag: 5}"])
    verify: VerifyDeclaration | None = Field(default=None, examples=['{after_full: true, schedule: "0 3 * * *"}'])

    @model_validator(mode="after")
    def _shape(self) -> "Task":
        if self.type != "subscription" and not self.destination:
            raise ValueError(f"a {self.type} task needs `destination`")
        if self.type == "subscription" and self.destination:
            raise ValueError("a subscription task has no `destination`")
        if self.type == "subscription" and self.on_position_lost != "fail":
            raise ValueError("`on_position_lost` is for tasks with a destination (a subscription always resyncs)")
        if self.on_position_lost == "reseed" and "full" not in self.phases:
            raise ValueError("`on_position_lost: reseed` copies everything again: it needs `full` in `phases`")
        if self.type != "subscription":
            for name in ("retention", "consumer_groups", "deliver_to"):
                if getattr(self, name) is not None:
                    raise ValueError(f"`{name}` is for subscription tasks only")
        elif "incremental" not in self.phases:
            raise ValueError("a subscription task streams changes: keep `incremental` in `phases`")
        self._check_groups()
        self._check_schedule()
        self._check_cutover()
        if not self.phases:
            raise ValueError("`phases` needs at least one of schema, full, incremental")
        order = [ALL_PHASES.index(p) for p in self.phases]
        if order != sorted(set(order)):
            raise ValueError("`phases` must be in the order schema, full, incremental, each at most once")
        return self

    def _check_groups(self) -> None:
        names = [name for name, _ in self.groups_as_written()]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"consumer group {duplicates[0]} is listed twice in `consumer_groups`")
        for name in names:
            if not re.match(GROUP_NAME, name):
                raise ValueError(f"consumer group name `{name}` may only hold letters, digits, `_`, `-` and `.`")

    def groups_as_written(self) -> list[tuple[str, ConsumerGroup]]:
        """Every group of `consumer_groups` in the order written, whichever form was used."""
        if isinstance(self.consumer_groups, dict):
            return [(name, options or ConsumerGroup()) for name, options in self.consumer_groups.items()]
        return [(group, ConsumerGroup()) if isinstance(group, str) else (group.name, ConsumerGroup(start=group.start))
                for group in self.consumer_groups or []]

    def _check_schedule(self) -> None:
        if self.schedule is not None:
            if self.type != "migration":
                raise ValueError("`schedule` is for migration tasks only (each run copies the selection once)")
            if "incremental" in self.phases:
                raise ValueError("a scheduled migration copies on each run and cannot stream: "
                                 "set `phases` to [schema, full] or [full]")
            return
        for selection in self.objects:
            for table, condition in selection.filter.items():
                if any(name in condition for name in RUN_PLACEHOLDERS):
                    raise ValueError(f"the filter of table `{table}` reads `run.` values, which only a task "
                                     "with `schedule` has; add a schedule or remove them")

    def _check_cutover(self) -> None:
        if self.cutover is None and self.verify is None:
            return
        if self.type == "subscription":
            raise ValueError("`cutover` and `verify` compare or switch to a destination; a subscription has none")
        if self.cutover is not None and "incremental" not in self.phases:
            raise ValueError("a cutover drains the stream of changes: keep `incremental` in `phases`")

    def groups(self) -> dict[str, ConsumerGroup]:
        """`consumer_groups` as a mapping, whichever form was written."""
        return dict(self.groups_as_written())


class Topology(Strict):
    type: TopologyType = Field(examples=["two-way"])
    endpoints: list[str] = Field(min_length=2, examples=["[bj, sh]"])
    objects: list[ObjectSelection] = Field(min_length=1, examples=["[{database: shop, all: true}]"])
    initial_sync_from: str | None = Field(default=None, examples=["bj"])
    conflict_policy: ConflictPolicyName | None = Field(default=None, examples=["overwrite"])
    phases: list[Phase] | None = Field(default=None, examples=["[schema, full]"])
    throttle: Throttle = Field(default_factory=Throttle, examples=["{rps: 1000, mbps: 50}"])
    retry: Retry = Field(default_factory=Retry, examples=["{connection_minutes: 60}"])
    # One status for every task of the topology, or one per task name ({reverse: paused}).
    status: DesiredStatus | dict[str, DesiredStatus] = Field(default="running", examples=["paused", "{reverse: paused}"])
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, examples=["{prevent_destroy: true}"])

    def status_of(self, task_name: str) -> DesiredStatus:
        if isinstance(self.status, str):
            return self.status
        return self.status.get(task_name, "running")


class ModuleCall(Strict):
    source: str = Field(examples=["./modules/region"])
    inputs: dict[str, Any] = Field(default_factory=dict, examples=["{region: bj}"])


class Declaration(Strict):
    """One module's declaration: the merge of its `*.dts.yaml` files."""

    variables: dict[str, Variable] = Field(default_factory=dict)
    locals: dict[str, Any] = Field(default_factory=dict)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    tasks: dict[str, Task] = Field(default_factory=dict)
    topologies: dict[str, Topology] = Field(default_factory=dict)
    modules: dict[str, ModuleCall] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    workspace: dict[str, Any] = Field(default_factory=dict)  # settings of the root workspace (WorkspaceSettings)


class Metrics(Strict):
    """Where the workspace's supervisor serves Prometheus metrics."""

    address: str = Field(default="127.0.0.1:9464", examples=["127.0.0.1:9464"])

    @field_validator("address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"metrics address `{value}` must be HOST:PORT, e.g. 127.0.0.1:9464")
        return value


class RuntimeTls(Strict):
    """Files of the TLS connection to etcd (https endpoints)."""

    ca: str | None = Field(default=None, examples=["/etc/dtsctl/etcd-ca.pem"])
    cert: str | None = Field(default=None, examples=["/etc/dtsctl/etcd-client.pem"])
    key: str | None = Field(default=None, examples=["/etc/dtsctl/etcd-client-key.pem"])

    @model_validator(mode="after")
    def _cert_with_key(self) -> "RuntimeTls":
        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs both `cert` and `key`")
        return self


def _server_urls(urls: list[str], schemes: str, what: str, example: str, shown: str | None = None) -> list[str]:
    """`urls` without a trailing slash; a ValueError naming each that is not scheme://host[:port]."""
    bad = [url for url in urls if not re.fullmatch(rf"{schemes}://[^/:\s]+(:\d{{1,5}})?/?", url)]
    if bad:
        raise ValueError(f"{', '.join(f'`{url}`' for url in bad)} not {what}; write each as "
                         f"{shown or schemes}://host:port, e.g. `{example}`")
    return [url.rstrip("/") for url in urls]


class RuntimeSubscriptions(Strict):
    """Where subscription tasks keep their records on the etcd runtime: a NATS JetStream cluster, a
    stream per task with `replicas` copies (docs/cluster.md). The password is never declared: every
    machine reads it from DTSCTL_NATS_PASSWORD (or a token from DTSCTL_NATS_TOKEN)."""

    nats: list[str] = Field(min_length=1, examples=['["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]'])
    replicas: int = Field(default=3, ge=1, le=5, examples=["3"])
    username: str | None = Field(default=None, examples=["dtsctl"])
    # the CA of the servers' certificates, and a client certificate for servers that verify clients
    tls: RuntimeTls = Field(default_factory=RuntimeTls, examples=["{ca: /etc/dtsctl/nats-ca.pem}"])

    @field_validator("nats")
    @classmethod
    def _urls(cls, servers: list[str]) -> list[str]:
        return _server_urls(servers, "(?:nats|tls)", "a NATS server URL", 'nats: ["nats://10.0.0.1:4222"]',
                            shown="nats")


class Runtime(Strict):
    """Where the workspace's agents run: this machine (`local`, the default) or the hosts that run
    `dtsctl node run` against an etcd cluster (`etcd`; docs/cluster.md). The etcd password is never
    declared: every machine reads it from DTSCTL_ETCD_PASSWORD."""

    backend: Literal["local", "etcd"] = Field(default="local", examples=["etcd"])
    endpoints: list[str] = Field(default_factory=list, examples=['["http://10.0.0.1:2379", "http://10.0.0.2:2379"]'])
    prefix: str = Field(default="/dtsctl", examples=["/dtsctl/prod"])
    username: str | None = Field(default=None, examples=["dtsctl"])
    tls: RuntimeTls = Field(default_factory=RuntimeTls, examples=["{ca: /etc/dtsctl/etcd-ca.pem}"])
    lease_seconds: int = Field(default=10, ge=6, le=300, examples=["10"])  # a node's lease TTL
    subscriptions: RuntimeSubscriptions | None = Field(
        default=None, examples=['{nats: ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"]}'])

    @field_validator("endpoints")
    @classmethod
    def _urls(cls, endpoints: list[str]) -> list[str]:
        return _server_urls(endpoints, "https?", "an etcd client URL", 'endpoints: ["http://10.0.0.1:2379"]',
                            "http(s)")

    @field_validator("prefix")
    @classmethod
    def _key_prefix(cls, prefix: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", prefix):
            raise ValueError(f"prefix `{prefix}` must be a key path such as /dtsctl/prod: a leading /, "
                             "letters, digits, _ . - between slashes, no trailing /")
        return prefix

    @model_validator(mode="after")
    def _etcd_needs_endpoints(self) -> "Runtime":
        if self.backend == "etcd" and not self.endpoints:
            raise ValueError('backend etcd needs `endpoints`: the client URLs of the etcd members, '
                             'e.g. `endpoints: ["http://10.0.0.1:2379"]`')
        if self.backend == "local" and self.subscriptions is not None:
            raise ValueError("`subscriptions` applies to backend etcd only: on the local runtime a subscription "
                             "keeps its records in a file of its task")
        return self


class WorkspaceSettings(Strict):
    """The `workspace:` section: settings of the whole workspace (root module only)."""

    metrics: Metrics | None = Field(default=None, examples=["{address: 127.0.0.1:9464}"])
    runtime: Runtime | None = Field(default=None, examples=['{backend: etcd, endpoints: ["http://10.0.0.1:2379"]}'])
