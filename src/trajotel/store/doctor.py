"""What the collector did not understand: LLM or agent spans no dialect matched, content it could
not read, model calls that arrived without messages. Backs ``trajotel doctor``.

Each check is one SQL query over the raw tables, so it works the same through a running
collector's query endpoint and against the store directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Query = Callable[[str], list[dict[str, Any]]]

# Attribute prefixes of the LLM / agent instrumentations trajotel knows of (docs/dialects.md).
GENAI_PREFIXES = ("gen_ai.", "llm.", "ai.", "traceloop.", "openinference.", "langsmith.", "logfire.")
_MODEL_CALLS = "('chat', 'text_completion', 'generate_content')"
_EXAMPLES = "arraySlice(groupArray(10)(concat(TraceId, '/', SpanId)), 1, {examples})"


@dataclass
class Finding:
    reason: str
    service: str
    scope: str
    count: int
    examples: list[str]  # "trace id/span id"
    detail: str = ""


@dataclass
class Report:
    understood: list[dict[str, Any]] = field(default_factory=list)  # spans per dialect and service
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"understood": self.understood, "not_understood": [f.__dict__ for f in self.findings]}


def _prefix_test(column: str) -> str:
    tests = " OR ".join(f"startsWith(k, '{p}')" for p in GENAI_PREFIXES)
    return f"arrayExists(k -> {tests}, mapKeys({column}))"


def _checks(examples: int) -> list[tuple[str, str]]:
    picked = _EXAMPLES.format(examples=examples)
    return [
        (
            "no dialect matched: the span has LLM/agent attributes trajotel does not know",
            f"SELECT ServiceName AS service, ScopeName AS scope, '' AS detail, count() AS n, "
            f"{picked} AS examples FROM spans WHERE Dialect = 'otel' AND {_prefix_test('SpanAttributes')} "
            f"GROUP BY service, scope",
        ),
        (
            "content could not be read (kept verbatim in the span's attributes)",
            f"SELECT ServiceName AS service, ScopeName AS scope, "
            f"substring(SpanAttributes['trajotel.normalize.error'], 1, 300) AS detail, count() AS n, "
            f"{picked} AS examples FROM spans WHERE SpanAttributes['trajotel.normalize.error'] != '' "
            f"GROUP BY service, scope, detail",
        ),
        (
            "content event could not be read (kept verbatim in the log record)",
            f"SELECT ServiceName AS service, ScopeName AS scope, "
            f"substring(LogAttributes['trajotel.normalize.error'], 1, 300) AS detail, count() AS n, "
            f"{picked} AS examples FROM logs WHERE LogAttributes['trajotel.normalize.error'] != '' "
            f"GROUP BY service, scope, detail",
        ),
        (
            "model call without messages (content capture off, or an encoding trajotel does not read)",
            f"SELECT ServiceName AS service, ScopeName AS scope, Dialect AS detail, count() AS n, "
            f"{picked} AS examples FROM spans WHERE Operation IN {_MODEL_CALLS} "
            f"AND empty(InputMessageHashes) AND empty(OutputMessageHashes) "
            f"AND SpanAttributes['trajotel.normalize.error'] = '' "
            f"AND (Tenant, TraceId, SpanId) NOT IN (SELECT Tenant, TraceId, SpanId FROM logs "
            f"WHERE notEmpty(InputMessageHashes) OR notEmpty(OutputMessageHashes)) "
            f"GROUP BY service, scope, detail",
        ),
    ]


def diagnose(query: Query, examples: int = 3) -> Report:
    """Run every check through ``query`` (SQL -> rows as dicts)."""
    report = Report(
        understood=query(
            "SELECT Dialect AS dialect, ServiceName AS service, count() AS spans, "
            "countIf(Operation != '') AS genai_spans FROM spans GROUP BY dialect, service "
            "ORDER BY spans DESC"
        )
    )
    for reason, sql in _checks(examples):
        for row in query(sql + " ORDER BY n DESC"):
            report.findings.append(
                Finding(
                    reason=reason,
                    service=row["service"],
                    scope=row["scope"],
                    count=int(row["n"]),
                    examples=list(row["examples"]),
                    detail=row["detail"],
                )
            )
    return report


def render(report: Report) -> str:
    lines = ["Understood (spans per dialect and service):"]
    if not report.understood:
        lines.append("  no spans stored yet")
    for row in report.understood:
        lines.append(
            f"  {row['dialect']:<14} {row['service'] or '(no service)':<24} {int(row['spans']):>9} spans, "
            f"{int(row['genai_spans'])} of them GenAI"
        )
    lines.append("")
    if not report.findings:
        lines.append("Not understood: nothing. Every LLM and agent span was read.")
        return "\n".join(lines)
    lines.append("Not understood:")
    for f in report.findings:
        where = f"service {f.service or '(none)'}, scope {f.scope or '(none)'}"
        lines.append(f"- {f.reason}: {f.count} ({where})")
        if f.detail:
            lines.append(f"    {f.detail}")
        lines.append(f"    e.g. {', '.join(f.examples)}")
    lines.append("")
    lines.append("See docs/dialects.md for what each dialect maps; look a span up with")
    lines.append("  trajotel query \"SELECT * FROM spans WHERE TraceId = '...' AND SpanId = '...'\"")
    return "\n".join(lines)
