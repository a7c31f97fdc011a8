"""Connectors: one folder per engine, declared in its `__init__` (`ENGINE`) and listed in `dtsctl.registry`."""
