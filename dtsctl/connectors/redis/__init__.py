"""The Redis connector: a replica-protocol source and a (cluster-aware) sink for dtsctl.engine.keyspace."""
