# Sourced by the README's commands: a virtualenv in .venv with dtsctl installed (editable).
# Usage: source scripts/bootstrap.sh [extra]   (extra: "test" also installs the test dependencies)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "dtsctl needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
# dtsctl builds two small C extensions (the Redis RDB cutter, the MySQL row-image decoder): a compiler and Python's headers.
compiler="${CC:-$("$python" -c 'import sysconfig; print((sysconfig.get_config_var("CC") or "cc").split()[0])')}"
if ! command -v "${compiler%% *}" >/dev/null 2>&1 || \
   ! "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  echo "installing dtsctl builds a C extension: install a C compiler ($compiler) and the Python headers" \
       "(e.g. sudo apt-get install gcc python3-dev) and run again" >&2
  exit 1
fi
if [ ! -x "$repo/.venv/bin/python" ]; then
  "$python" -m venv "$repo/.venv"
fi
spec="$repo"
[ "${1:-}" = "test" ] && spec="$repo[test]"
"$repo/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
# Bytecode for dtsctl's modules, as a non-editable install leaves it: every CLI command and agent
# starts about 0.08 s sooner where PYTHONDONTWRITEBYTECODE keeps Python from writing it itself
# (a module edited since is compiled afresh in memory, its stale .pyc ignored).
"$repo/.venv/bin/python" -m compileall -q "$repo/dtsctl" >/dev/null
export PATH="$repo/.venv/bin:$PATH"
