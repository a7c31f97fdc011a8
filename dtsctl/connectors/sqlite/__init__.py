"""SQLite connector: capture by triggers into a per-task table in the source file."""
