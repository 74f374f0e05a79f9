"""A small client of the collector's REST API (docs/api.md), usable from any process:

    client = trajotel.Client()                       # $TRAJOTEL_ENDPOINT or http://127.0.0.1:4318
    for row in client.list(agent="weather-agent", outcome="failure", min_reward=0.5):
        ...
    client.feedback(row["trajectory_id"], value=1.0, source="human", author="ana")
    client.patch(trajectory_id, add_tags=["reviewed"], outcome="success")
    client.delete(trajectory_id)

Standard library only (urllib), so ``import trajotel`` stays light. Errors the collector reports
are raised as trajotel errors carrying its message and hint: ``NotFoundError`` (404),
``InvalidInputError`` (400), ``TrajotelError`` (anything else, and an unreachable collector).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trajotel.errors import InvalidInputError, NotFoundError, TrajotelError

if TYPE_CHECKING:
    from trajotel.assemble.model import Trajectory

ENV_ENDPOINT = "TRAJOTEL_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def default_endpoint() -> str:
    return os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT


class Client:
    """The REST API of one collector. ``tenant`` limits every call to that tenant."""

    def __init__(
        self, endpoint: str | None = None, *, tenant: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.tenant = tenant
        self.timeout_s = timeout_s

    # --- trajectories ---

    def list(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> list[dict[str, Any]]:
        """One page of summaries, newest first. Filters: agent, service, outcome, status, tag
        (a string or a list), task, since, until (ISO 8601 or Unix seconds), min_reward,
        max_reward, min_confidence, max_confidence."""
        query = {**_filters(filters), "limit": limit, "offset": offset}
        rows, _ = self._call("GET", "/v1/trajectories", query=query)
        return rows

    def iter(self, *, page_size: int = 100, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching summary, page after page."""
        path: str | None = "/v1/trajectories?" + _encode({**_filters(filters), "limit": page_size})
        while path is not None:
            rows, headers = self._call("GET", path)
            yield from rows
            found = _NEXT_LINK.search(headers.get("Link", ""))
            path = found.group(1) if found else None

    def get(self, trajectory_id: str) -> Trajectory:
        from trajotel.assemble.model import Trajectory  # only when asked for: keeps the import light

        body, _ = self._call("GET", _item(trajectory_id))
        return Trajectory.from_dict(body)

    def patch(
        self,
        trajectory_id: str,
        *,
        tags: Iterable[str] | None = None,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        outcome: str | None = None,
        outcome_reason: str | None = None,
        metadata: Mapping[str, str | None] | None = None,
        author: str | None = None,
    ) -> dict[str, Any]:
        """Change what people decide; returns the trajectory's new summary. ``tags`` replaces all
        tags; ``metadata`` sets keys (``None`` removes one)."""
        body: dict[str, Any] = {}
        if tags is not None:
            body["tags"] = list(tags)
        elif add_tags or remove_tags:
            body["tags"] = {"add": list(add_tags), "remove": list(remove_tags)}
        if outcome is not None:
            body["outcome"] = {"label": outcome, "reason": outcome_reason or ""}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if author is not None:
            body["author"] = author
        summary, _ = self._call("PATCH", _item(trajectory_id), body=body)
        return summary

    def revert_outcome(self, trajectory_id: str) -> dict[str, Any]:
        """Back to the outcome the collector assembled."""
        summary, _ = self._call("PATCH", _item(trajectory_id), body={"outcome": None})
        return summary

    def delete(self, trajectory_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Gone from every view, reader and export (with its sub-agents); ``purge`` also deletes
        its stored spans and rows."""
        answer, _ = self._call("DELETE", _item(trajectory_id), query={"purge": str(purge).lower()})
        return answer

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        min_score: float | None = None,
        max_score: float | None = None,
        mode: str | None = None,
        **filters: str,
    ) -> list[dict[str, Any]]:
        """The k trajectories most like ``query`` (docs/search.md): ``mode`` keyword, vector or
        hybrid (default: hybrid when the collector has an embeddings model, else keyword);
        ``min_score``/``max_score`` bound the judged or heuristic score; filters: agent, service,
        outcome, tag."""
        body: dict[str, Any] = {"query": query, "k": k, "filters": filters}
        for name, value in (("min_score", min_score), ("max_score", max_score), ("mode", mode)):
            if value is not None:
                body[name] = value
        answer, _ = self._call("POST", "/v1/trajectories/search", body=body)
        return answer["hits"]

    def process(
        self, trajectory_id: str, *, stages: Iterable[str] | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Run the enrichment stages on one trajectory now (all enabled ones unless ``stages``);
        ``force`` re-runs stages whose result is current."""
        body: dict[str, Any] = {"force": force}
        if stages is not None:
            body["stages"] = list(stages)
        answer, _ = self._call("POST", _item(trajectory_id) + "/process", body=body)
        return answer

    def enrichments(self, trajectory_id: str) -> dict[str, dict[str, Any]]:
        """The latest successful result of each enrichment stage (docs/enrichment.md): stage
        name -> ``{"score", "label", "summary", "result", "stage_version", "trajectory_version",
        "created_at"}``; e.g. ``client.enrichments(id)["judge"]["summary"]``. Empty when none ran."""
        answer, _ = self._call("GET", _item(trajectory_id) + "/enrichments")
        return answer["stages"]

    # --- feedback ---

    def feedback(
        self,
        trajectory_id: str,
        value: float | None = None,
        *,
        label: str | None = None,
        comment: str | None = None,
        source: str = "api",
        turn_index: int | None = None,
        author: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Record feedback; returns the stored record. ``key`` makes a retry idempotent (records
        with the same content are stored once anyway)."""
        body = {
            "value": value,
            "label": label,
            "comment": comment,
            "source": source,
            "turn_index": turn_index,
            "author": author,
            "id": key,
        }
        record, _ = self._call(
            "POST", _item(trajectory_id) + "/feedback", body={k: v for k, v in body.items() if v is not None}
        )
        return record

    def list_feedback(self, trajectory_id: str) -> list[dict[str, Any]]:
        records, _ = self._call("GET", _item(trajectory_id) + "/feedback")
        return records

    # --- analytics (docs/analytics.md); agent: a name or a list; since / until: ISO 8601 or Unix
    # seconds, bounding the runs' start time ---

    def success_rates(
        self,
        by: str = "agent",
        *,
        agent: str | Iterable[str] | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Runs, successes, failures, partials, success rate and mean reward per day and agent,
        model or tool (``by``), newest day first."""
        return self._analytics("success-rates", by=by, agent=agent, since=since, until=until, limit=limit)

    def tool_stats(
        self,
        *,
        agent: str | Iterable[str] | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Per tool: calls, errors, error rate, error types, p50/p95 duration; most errors first."""
        return self._analytics("tool-stats", agent=agent, since=since, until=until, limit=limit)

    def tool_sequences(
        self,
        *,
        agent: str | Iterable[str] | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The tool sequences of each agent's successful runs with their share; most frequent first."""
        return self._analytics("tool-sequences", agent=agent, since=since, until=until, limit=limit)

    def failure_patterns(
        self,
        *,
        agent: str | Iterable[str] | None = None,
        since: str | float | None = None,
        until: str | float | None = None,
        limit: int = 100,
        examples: int = 3,
    ) -> list[dict[str, Any]]:
        """Failed and partial runs grouped by what went wrong (failing tool and error, model error,
        final finish reason, outcome reasons), with count, share, last seen and example ids."""
        return self._analytics(
            "failure-patterns", agent=agent, since=since, until=until, limit=limit, examples=examples
        )

    def _analytics(self, name: str, **query: Any) -> list[dict[str, Any]]:
        agent = query.get("agent")
        if agent is not None and not isinstance(agent, str):
            query["agent"] = list(agent)
        rows, _ = self._call("GET", f"/v1/analytics/{name}", query=_filters(query))
        return rows

    def openapi(self) -> dict[str, Any]:
        document, _ = self._call("GET", "/openapi.json")
        return document

    # --- transport ---

    def _call(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> tuple[Any, Mapping[str, str]]:
        query = {**(query or {}), **({"tenant": self.tenant} if self.tenant else {})}
        url = self.endpoint + path + (("&" if "?" in path else "?") + _encode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            raise _error(exc, method, path) from None
        except (urllib.error.URLError, OSError) as exc:
            raise TrajotelError(
                f"cannot reach the trajotel collector at {self.endpoint}: {exc}",
                hint=f"is `trajotel collector` running? set {ENV_ENDPOINT} to its OTLP/HTTP address",
            ) from None


def _error(exc: urllib.error.HTTPError, method: str, path: str) -> TrajotelError:
    try:
        detail = json.loads(exc.read())
    except ValueError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    message = detail.get("error") or f"{method} {path}: HTTP {exc.code}"
    kind = {404: NotFoundError, 400: InvalidInputError}.get(exc.code, TrajotelError)
    return kind(message, hint=detail.get("hint"))


def _item(trajectory_id: str) -> str:
    # A sub-agent's id holds "/": it must stay inside its path segment.
    return "/v1/trajectories/" + urllib.parse.quote(trajectory_id, safe="")


def _filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        key = "tag" if name == "tags" else name
        out[key] = ",".join(value) if isinstance(value, list | tuple | set) else value
    return out


def _encode(query: Mapping[str, Any]) -> str:
    return urllib.parse.urlencode({k: str(v) for k, v in query.items()}, safe=",")
