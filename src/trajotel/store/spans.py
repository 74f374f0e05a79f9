"""Writing normalized batches: message bodies first, so no span ever references missing content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trajotel.normalize.records import NormalizedBatch
from trajotel.store.connection import Store, encode_json_rows


def encode_batch(batch: NormalizedBatch, content_keys: Sequence[tuple[str, str]]) -> dict[str, bytes]:
    """JSONEachRow bodies per table, in the order they must be inserted. ``content_keys`` are
    the (tenant, hash) bodies not yet in the store."""
    bodies: dict[str, bytes] = {}
    if content_keys:
        contents = batch.contents
        bodies["message_contents"] = encode_json_rows(
            {"Tenant": tenant, "Hash": h, "Kind": contents[tenant, h][0], "Content": contents[tenant, h][1]}
            for tenant, h in content_keys
        )
    if batch.spans:
        bodies["spans"] = encode_json_rows(batch.spans)
    if batch.logs:
        bodies["logs"] = encode_json_rows(batch.logs)
    return bodies


def write_encoded(store: Store, bodies: Mapping[str, bytes], token: str) -> None:
    """Insert ``encode_batch`` output. ``token`` identifies the batch: a retried insert is a no-op."""
    for table, body in bodies.items():
        store.insert_json_lines(table, body, dedup_token=f"{token}:{table}")


def write_batch(
    store: Store, batch: NormalizedBatch, content_keys: Sequence[tuple[str, str]], token: str
) -> None:
    write_encoded(store, encode_batch(batch, content_keys), token)
