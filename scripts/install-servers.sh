#!/usr/bin/env bash
# The database servers the tests start privately: MariaDB (mariadbd) and Redis (redis-server),
# promtool (Debian's prometheus package), which checks the shipped alert rules, and etcd
# (Debian's etcd-server), the coordination store of the cluster runtime's tests.
# Installed from Debian's packages when missing; the tests never use the machine's own services.
set -euo pipefail
missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} from Debian's packages" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "the tests need ${missing[*]}: install them (e.g. sudo apt-get install ${missing[*]}) and run again" >&2
  exit 1
fi
