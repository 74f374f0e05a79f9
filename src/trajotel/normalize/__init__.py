"""trajotel.normalize: every dialect becomes one canonical span record."""

from trajotel.normalize.records import NormalizedBatch, content_hash
from trajotel.normalize.spans import normalize_logs, normalize_traces

__all__ = ["NormalizedBatch", "content_hash", "normalize_logs", "normalize_traces"]
