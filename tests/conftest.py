"""Shared pytest setup: private MariaDB and Redis servers started by the suite itself."""

pytest_plugins = ["tests.servers.fixtures", "tests.servers.mongodb"]
