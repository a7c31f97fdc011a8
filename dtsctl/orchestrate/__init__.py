"""Carrying plans out: the glue between plan, state, runtime and engine that the CLI calls."""
