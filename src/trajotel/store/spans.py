"""Writing normalized batches: message bodies first, so no span ever references missing content."""

from __future__ import annotations

from collections.abc import Sequence

from trajotel.normalize.records import NormalizedBatch
from trajotel.store.connection import Store


def write_batch(
    store: Store, batch: NormalizedBatch, content_keys: Sequence[tuple[str, str]], token: str
) -> None:
    """Insert one batch. ``content_keys`` are the (tenant, hash) bodies not yet in the store;
    ``token`` identifies the batch so that a retried insert is a no-op."""
    if content_keys:
        rows = [
            {
                "Tenant": tenant,
                "Hash": h,
                "Kind": batch.contents[tenant, h][0],
                "Content": batch.contents[tenant, h][1],
            }
            for tenant, h in content_keys
        ]
        store.insert_json_rows("message_contents", rows, dedup_token=f"{token}:contents")
    if batch.spans:
        store.insert_json_rows("spans", batch.spans, dedup_token=f"{token}:spans")
    if batch.logs:
        store.insert_json_rows("logs", batch.logs, dedup_token=f"{token}:logs")
