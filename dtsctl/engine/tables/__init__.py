"""The table pipeline (SQLite, MySQL): schema, full copy by key, change stream applied row by row."""
