"""Cache invalidation end to end: MariaDB orders -> subscription -> consumer -> Redis cache.

    .venv/bin/python examples/cache-invalidation/run.py

Starts a private MariaDB and Redis in a temporary folder (nothing on the
machine's own servers), applies the subscription, runs consumer.py, makes
inserts, updates and deletes, checks the cache equals the table, and tears
everything down.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.servers.mariadb import MariaDBServer  # noqa: E402
from tests.servers.redis import RedisServer  # noqa: E402


def dtsctl(workspace: Path, *args: str) -> None:
    print(f"$ dtsctl {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "dtsctl", "-C", str(workspace), *args], check=True)


def cached_orders(cache) -> dict[int, str]:
    return {int(key.split(":")[1]): cache.hget(key, "status") for key in cache.scan_iter("order:*")}


def table_orders(shop: MariaDBServer) -> dict[int, str]:
    return {int(order_id): status for order_id, status in shop.query("SELECT id, status FROM shop.orders")}


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="dtsctl-cache-example-"))
    shop, cache_server = MariaDBServer().start(), RedisServer().start()
    consumer = None
    try:
        shop.execute("CREATE DATABASE shop")
        shop.execute("CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(50), "
                     "amount DECIMAL(10,2), status VARCHAR(20))")
        workspace = root / "workspace"
        workspace.mkdir()
        shutil.copy(HERE / "main.dts.yaml", workspace)
        (workspace / "shop.dtsvars.yaml").write_text(f"mysql_port: {shop.port}\n")
        dtsctl(workspace, "apply", "--auto-approve")
        dtsctl(workspace, "wait", "task.orders_feed", "--timeout", "60")
        consumer = subprocess.Popen([sys.executable, str(HERE / "consumer.py"), str(workspace),
                                     str(cache_server.port)])
        print("writing orders: inserts, updates, deletes", flush=True)
        for order_id in range(1, 21):
            shop.execute("INSERT INTO shop.orders VALUES (%s, %s, %s, 'new')", order_id, f"c{order_id}", order_id * 3)
        shop.execute("UPDATE shop.orders SET status = 'paid' WHERE id <= 10")
        shop.execute("UPDATE shop.orders SET status = 'shipped' WHERE id <= 5")
        shop.execute("DELETE FROM shop.orders WHERE id > 15")
        cache = cache_server.client(decode_responses=True)
        deadline = time.monotonic() + 60
        while cached_orders(cache) != table_orders(shop):
            if time.monotonic() > deadline or consumer.poll() is not None:
                print("the cache did not converge", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"cache matches the table: {len(table_orders(shop))} orders, e.g. order:1 = {cache.hgetall('order:1')}")
        dtsctl(workspace, "status", "task.orders_feed")
        dtsctl(workspace, "destroy", "--auto-approve")
        return 0
    finally:
        if consumer is not None:
            consumer.terminate()
            consumer.wait(10)
        shop.close()
        cache_server.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
