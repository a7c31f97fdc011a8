"""The SQLite engine as the table pipeline sees it."""

from dtsctl.connectors.sqlite.sink import SqliteSink
from dtsctl.connectors.sqlite.source import SqliteSource
from dtsctl.engine.tables.interfaces import TableConnector

CONNECTOR = TableConnector(source=SqliteSource, sink=SqliteSink)
