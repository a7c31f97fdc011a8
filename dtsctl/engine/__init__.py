"""Engine-neutral replication: events, the change log, checkpoints, phases, throttling, retries.

Nothing here imports a database driver; connectors plug in through
`dtsctl.connectors.registry`. (The change log itself is an embedded SQLite file,
which is dtsctl's own storage, not an endpoint.)
"""
