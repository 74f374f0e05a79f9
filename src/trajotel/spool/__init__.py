"""trajotel.spool: the durable queue that lets the collector acknowledge exports early."""

from trajotel.spool.spool import KIND_LOGS, KIND_TRACES, Position, Record, Spool, SpoolError

__all__ = ["KIND_LOGS", "KIND_TRACES", "Position", "Record", "Spool", "SpoolError"]
