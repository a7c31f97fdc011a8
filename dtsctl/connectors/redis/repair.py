"""Keys that expired on the destination before the source's writes reached them, sent again.

A Redis replica never expires keys itself: it waits for its primary's DEL. A destination is a
primary, so while an agent is down (or far behind) a key with a short TTL can expire there
although the source extended it or wrote to it meanwhile. When a replicated command finds such
a key gone, the applier asks for it here: a script on the source reads the key's value (DUMP)
and absolute expiry (PEXPIRETIME) and writes them into `dtsctl:repair:<task id>`. That write
comes back through the replication stream at exactly the point where the value was read, where
the reader turns it into `RESTORE … REPLACE` (or `DEL` when the source no longer has the key):
every write before it is in the value, every write after it applies on top.
"""

from __future__ import annotations

import logging

import redis

from dtsctl.connectors.redis.client import connect
from dtsctl.connectors.redis.selection import REPAIR_PREFIX, Selection
from dtsctl.engine.keyspace.interfaces import Repairer
from dtsctl.engine.task import TaskSpec
from dtsctl.errors import DtsError

log = logging.getLogger(__name__)

MARKER_TTL_MS = 600_000
# What a kept connection meets once its server is gone or was turned into a replica
_MASTER_MOVED = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
_SCRIPT = """
local at = redis.call('PEXPIRETIME', KEYS[1])
local value = ''
if at ~= -2 then value = redis.call('DUMP', KEYS[1]) end
redis.call('SET', KEYS[2], at .. ' ' .. #KEYS[1] .. ' ' .. KEYS[1] .. value, 'PX', ARGV[1])
return at
"""


class RedisRepairer(Repairer):
    def __init__(self, spec: TaskSpec) -> None:
        self.endpoint = spec.source_endpoint
        self.marker = REPAIR_PREFIX + spec.task_id
        self._source_db = {rule.destination: rule.source for rule in Selection(spec.objects).rules.values()}
        self._clients: dict[int, redis.Redis] = {}

    def request(self, destination_db: int, key: bytes) -> bool:
        """A connection kept from an earlier request may lead to a server that is gone or no longer
        the master (a Sentinel failover): the request is then made once more on a new connection,
        which finds the current master. Running the script twice is harmless: the value sent last wins."""
        source_db = self._source_db.get(destination_db)
        if source_db is None:
            return False
        for retry in (False, True):
            try:
                client = self._clients.get(source_db)
                if client is None:
                    client = self._clients[source_db] = connect(self.endpoint, "source", source_db)
                client.eval(_SCRIPT, 2, key, self.marker, MARKER_TTL_MS)
                return True
            except _MASTER_MOVED as exc:
                self._forget(source_db)
                if retry:
                    log.debug("repair of %r failed: %s", key, exc)
            except (redis.RedisError, DtsError) as exc:  # read-only source, no scripting: counted, verify finds it
                log.debug("repair of %r refused: %s", key, exc)
                return False
        return False

    def _forget(self, source_db: int) -> None:
        client = self._clients.pop(source_db, None)
        if client is not None:
            client.close()

    def forget(self) -> None:
        """Delete the marker key in every database this task reads (teardown); it expires by itself too."""
        try:
            for source_db in self._source_db.values():
                client = connect(self.endpoint, "source", source_db)
                try:
                    client.delete(self.marker)
                except redis.ReadOnlyError:
                    pass
                finally:
                    client.close()
        except DtsError as exc:
            log.debug("repair marker not removed: %s", exc)

    def close(self) -> None:
        for source_db in list(self._clients):
            self._forget(source_db)

