"""The MySQL and MariaDB engine as the table pipeline sees it."""

from dtsctl.connectors.mysql.sink import MysqlSink
from dtsctl.connectors.mysql.source import MysqlSource
from dtsctl.engine.tables.interfaces import TableConnector

CONNECTOR = TableConnector(source=MysqlSource, sink=MysqlSink)
