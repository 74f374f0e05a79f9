"""trajotel.store: the ClickHouse schema and the only code that talks to ClickHouse."""

from trajotel.store.connection import QueryResult, Store, StoreUrl

__all__ = ["QueryResult", "Store", "StoreUrl"]
