"""Engine-neutral replication: events, the change log, checkpoints, phases, throttling, retries.

Nothing here imports a connector or a database driver: the runtime hands each
pipeline (tables/, keyspace/, subscription/) its connectors, found through
`dtsctl.registry`. (The change log itself is an embedded SQLite file, which is
dtsctl's own storage, not an endpoint.)
"""
