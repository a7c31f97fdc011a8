"""Subscription (change tracking) tasks: the source's changes kept as a retained stream of records.

    Source ──Reader──▶ change log ──Recorder──▶ store (subscription.db) ──▶ consumer groups (dtsctl.subscribe)
                                                                      └──▶ Delivery ──▶ Redis Stream

The store is one SQLite file (WAL) in the task's runtime directory holding the
records, the groups' committed offsets, their leases and the retention state.
"""
