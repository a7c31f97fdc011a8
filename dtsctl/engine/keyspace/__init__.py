"""The replication pipeline for key-value engines (Redis): snapshot and stream as commands."""
