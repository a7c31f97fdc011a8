"""dtsctl: declarative, self-hosted data transmission (migration, synchronization, change tracking)."""

__version__ = "0.1.0"
