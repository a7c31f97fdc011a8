#!/usr/bin/env bash
# End to end on SQLite, no servers: apply, replicate live writes, show status, destroy.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../scripts/bootstrap.sh"
cd "$here"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -f state/dtsctl.state.json ]; then dtsctl destroy --auto-approve >/dev/null; fi
rm -f shop.db* replica.db*

step "A shop database with some rows"
sqlite-utils create-table shop.db customers id integer name text --pk id
sqlite-utils create-table shop.db orders id integer customer_id integer amount float --pk id
sqlite-utils insert shop.db customers - --pk id <<<'[{"id":1,"name":"Ada"},{"id":2,"name":"Grace"}]'
sqlite-utils insert shop.db orders - --pk id <<<'[{"id":1,"customer_id":1,"amount":9.5},{"id":2,"customer_id":2,"amount":30}]'

step "dtsctl init && dtsctl plan"
dtsctl init
dtsctl plan

step "dtsctl apply: schema, full copy, then live replication"
dtsctl apply --auto-approve
dtsctl wait task.shop_sync --phase incremental --timeout 60

step "Live writes on the source: insert, update, delete"
sqlite-utils query shop.db "insert into orders (id, customer_id, amount) values (3, 1, 12.25)" >/dev/null
sqlite-utils query shop.db "update customers set name = 'Grace Hopper' where id = 2" >/dev/null
sqlite-utils query shop.db "delete from orders where id = 1" >/dev/null
for _ in $(seq 100); do dtsctl verify task.shop_sync >/dev/null && break; sleep 0.1; done

step "The replica"
sqlite-utils rows replica.db customers --table
sqlite-utils rows replica.db orders --table

step "dtsctl status and dtsctl verify"
dtsctl status
dtsctl verify task.shop_sync

step "dtsctl destroy: agents stop, the replica keeps its data"
dtsctl destroy --auto-approve
sqlite-utils query replica.db "select count(*) as orders_kept from orders" --table
