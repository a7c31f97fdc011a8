"""Connectors: one folder per engine, each with a Source and a Sink; see `registry`."""
