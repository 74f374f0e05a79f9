"""What people change about a trajectory: tags, outcome, metadata, deletion (docs/api.md).

Edits live in ``trajectory_edits``, one current row per trajectory, apart from the assembled
versions: the views of migration 0006 apply them at read time, so a re-assembly (a late span)
never undoes them. Deleting hides the trajectory and its sub-agents (``{id}/...``) from every
view and reader; ``purge`` also removes the stored data (lightweight DELETEs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from trajotel import semconv as sc
from trajotel.errors import InvalidInputError
from trajotel.store.connection import Store

# Read-modify-write of an edit row: one at a time in this process.
_EDIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class Edit:
    """The current edit of one trajectory (the empty Edit changes nothing)."""

    tags_added: tuple[str, ...] = ()
    tags_removed: tuple[str, ...] = ()
    tags_replaced: bool = False
    outcome_label: str = ""
    outcome_reason: str = ""
    metadata_set: dict[str, str] = field(default_factory=dict)
    metadata_removed: tuple[str, ...] = ()
    deleted: bool = False
    author: str = ""


@dataclass(frozen=True)
class Patch:
    """A change asked for: tags to set (replacing all) or to add and remove, an outcome (``""``
    reverts to the assembled one), metadata keys to set (``None`` removes a key)."""

    tags_set: tuple[str, ...] | None = None
    tags_add: tuple[str, ...] = ()
    tags_remove: tuple[str, ...] = ()
    outcome_label: str | None = None
    outcome_reason: str = ""
    metadata: Mapping[str, str | None] = field(default_factory=dict)
    author: str = ""

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Patch:
        """``{"tags": [..] | {"set"|"add"|"remove": [..]}, "outcome": label | {"label", "reason"} |
        null, "metadata": {key: value | null}, "author": name}``; errors name the field."""
        unknown = sorted(set(body) - {"tags", "outcome", "metadata", "author"})
        if unknown:
            raise InvalidInputError(
                f"unknown field {unknown[0]!r} in the patch", hint="fields: tags, outcome, metadata, author"
            )
        patch = cls(author=_text(body.get("author", ""), "author"))
        if "tags" in body:
            patch = replace(patch, **_tags(body["tags"]))
        if "outcome" in body:
            patch = replace(patch, **_outcome(body["outcome"]))
        if "metadata" in body:
            patch = replace(patch, metadata=_metadata(body["metadata"]))
        return patch

    def applied_to(self, edit: Edit) -> Edit:
        added, removed, replaced = list(edit.tags_added), list(edit.tags_removed), edit.tags_replaced
        if self.tags_set is not None:
            added, removed, replaced = list(dict.fromkeys(self.tags_set)), [], True
        for tag in self.tags_add:
            removed = [t for t in removed if t != tag]
            added += [] if tag in added else [tag]
        for tag in self.tags_remove:
            added = [t for t in added if t != tag]
            removed += [] if tag in removed else [tag]
        metadata_set = dict(edit.metadata_set)
        metadata_removed = list(edit.metadata_removed)
        for key, value in self.metadata.items():
            metadata_set.pop(key, None)
            metadata_removed = [k for k in metadata_removed if k != key]
            if value is None:
                metadata_removed.append(key)
            else:
                metadata_set[key] = value
        outcome = (edit.outcome_label, edit.outcome_reason)
        if self.outcome_label is not None:
            outcome = (self.outcome_label, self.outcome_reason if self.outcome_label else "")
        return replace(
            edit,
            tags_added=tuple(added),
            tags_removed=tuple(removed),
            tags_replaced=replaced,
            outcome_label=outcome[0],
            outcome_reason=outcome[1],
            metadata_set=metadata_set,
            metadata_removed=tuple(metadata_removed),
            author=self.author or edit.author,
        )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{where} must be a string, not {type(value).__name__}")
    return value


def _tag_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise InvalidInputError(f"{where} must be a list of non-empty strings, not {value!r}")
    return tuple(value)


def _tags(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"tags_set": _tag_list(value, "tags")}
    if not isinstance(value, Mapping) or not value or set(value) - {"set", "add", "remove"}:
        raise InvalidInputError(
            f"tags must be a list or an object with set, add and/or remove lists, not {value!r}"
        )
    out: dict[str, Any] = {
        f"tags_{op}": _tag_list(value[op], f"tags.{op}") for op in ("add", "remove") if op in value
    }
    if "set" in value:
        if out:
            raise InvalidInputError("tags.set cannot be combined with tags.add or tags.remove")
        out["tags_set"] = _tag_list(value["set"], "tags.set")
    return out


def _outcome(value: Any) -> dict[str, Any]:
    if value is None:
        return {"outcome_label": ""}  # back to the assembled outcome
    reason = ""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"label", "reason"})
        if unknown:
            raise InvalidInputError(f"unknown field outcome.{unknown[0]}", hint="fields: label, reason")
        reason = _text(value.get("reason", ""), "outcome.reason")
        value = value.get("label")
    if value not in sc.OUTCOME_LABELS:
        raise InvalidInputError(
            f"outcome.label must be one of {', '.join(sc.OUTCOME_LABELS)}, not {value!r}",
            hint="null reverts to the assembled outcome",
        )
    return {"outcome_label": value, "outcome_reason": reason}


def _metadata(value: Any) -> dict[str, str | None]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"metadata must be an object of strings, not {value!r}")
    for key, item in value.items():
        if item is not None and not isinstance(item, str):
            raise InvalidInputError(f"metadata.{key} must be a string or null, not {item!r}")
    return dict(value)


# --- the store side -------------------------------------------------------------------------


def read_edit(store: Store, tenant: str, trajectory_id: str) -> tuple[Edit, int]:
    """The current edit and its UpdatedAt (microseconds; 0 when never edited)."""
    rows = store.query(
        "SELECT TagsAdded, TagsRemoved, TagsReplaced, OutcomeLabel, OutcomeReason, MetadataSet, "
        "MetadataRemoved, Deleted, Author, toUnixTimestamp64Micro(UpdatedAt) FROM trajectory_edits FINAL "
        "WHERE Tenant = {tenant:String} AND TrajectoryId = {id:String}",
        {"tenant": tenant, "id": trajectory_id},
    ).rows
    if not rows:
        return Edit(), 0
    added, removed, replaced, label, reason, meta_set, meta_removed, deleted, author, at = rows[0]
    edit = Edit(
        tuple(added),
        tuple(removed),
        bool(replaced),
        label,
        reason,
        dict(meta_set),
        tuple(meta_removed),
        bool(deleted),
        author,
    )
    return edit, int(at)


def _write_edit(store: Store, tenant: str, trajectory_id: str, edit: Edit, previous_us: int) -> None:
    # Strictly newer than the row it replaces, even within one microsecond.
    at_us = max(time.time_ns() // 1000, previous_us + 1)
    store.insert_json_rows(
        "trajectory_edits",
        [
            {
                "Tenant": tenant,
                "TrajectoryId": trajectory_id,
                "UpdatedAt": f"{at_us // 1_000_000:010d}.{at_us % 1_000_000:06d}",
                "TagsAdded": list(edit.tags_added),
                "TagsRemoved": list(edit.tags_removed),
                "TagsReplaced": int(edit.tags_replaced),
                "OutcomeLabel": edit.outcome_label,
                "OutcomeReason": edit.outcome_reason,
                "MetadataSet": edit.metadata_set,
                "MetadataRemoved": list(edit.metadata_removed),
                "Deleted": int(edit.deleted),
                "Author": edit.author,
            }
        ],
    )


def patch_trajectory(store: Store, tenant: str, trajectory_id: str, patch: Patch) -> Edit:
    """Apply ``patch`` on top of the trajectory's current edit; returns the new edit."""
    with _EDIT_LOCK:
        edit, at = read_edit(store, tenant, trajectory_id)
        updated = patch.applied_to(edit)
        _write_edit(store, tenant, trajectory_id, updated, at)
    return updated


def delete_trajectory(
    store: Store, tenant: str, trajectory_id: str, *, purge: bool = False, author: str = ""
) -> None:
    """Hide the trajectory and its sub-agents everywhere. ``purge`` also deletes what was stored
    for it: its traces' spans and log records, its versions, turns, feedback and trace links.
    The deletion mark stays, so spans of those traces sent again stay hidden."""
    with _EDIT_LOCK:
        edit, at = read_edit(store, tenant, trajectory_id)
        _write_edit(
            store, tenant, trajectory_id, replace(edit, deleted=True, author=author or edit.author), at
        )
    if purge:
        _purge(store, tenant, trajectory_id)


def _purge(store: Store, tenant: str, trajectory_id: str) -> None:
    traces = [
        str(t)
        for (t,) in store.query(
            "SELECT DISTINCT arrayJoin(TraceIds) FROM trajectories_data WHERE Tenant = {tenant:String} "
            "AND TrajectoryId = {id:String}",
            {"tenant": tenant, "id": trajectory_id},
        ).rows
    ]
    own = "Tenant = {tenant:String} AND (TrajectoryId = {id:String} OR TrajectoryId LIKE {children:String})"
    params = {
        "tenant": tenant,
        "id": trajectory_id,
        "children": _like_prefix(trajectory_id + "/"),
        "traces": traces,
    }
    by_trace = "Tenant = {tenant:String} AND TraceId IN {traces:Array(String)}"
    for table, where in (
        ("feedback_data", own),
        ("turns_data", own),
        ("trajectories_data", own),
        ("spans", by_trace),
        ("logs", by_trace),
        ("evaluation_events", by_trace),
        ("trajectory_links", by_trace),
        ("trace_trajectories", by_trace),
    ):
        store.command(f"DELETE FROM {table} WHERE {where}", params)


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching what starts with ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
