"""MySQL and MariaDB: schema from information_schema, consistent snapshot, binlog stream, transactional sink."""
