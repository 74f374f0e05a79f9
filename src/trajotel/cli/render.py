"""Human-readable renderings of trajectories for the terminal."""

from __future__ import annotations

import json
from typing import Any

from trajotel.assemble.model import Message, Part, Trajectory

_WIDTH = 100


def _clip(text: str, width: int = _WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _part(part: Part) -> str:
    if part.type in ("text", "reasoning"):
        prefix = "(reasoning) " if part.type == "reasoning" else ""
        return prefix + _clip(part.content or "")
    if part.type == "tool_call":
        return f"→ {part.name}({_clip(_json(part.arguments), 70)})  [{part.id}]"
    if part.type == "tool_call_response":
        return f"← [{part.id}] {_clip(_json(part.response), 80)}"
    return f"<{part.type}>"


def _message(message: Message, indent: str) -> list[str]:
    lines = []
    for i, part in enumerate(message.parts or [Part(type="text", content="")]):
        label = f"{message.role}:" if i == 0 else " " * (len(message.role) + 1)
        lines.append(f"{indent}{label} {_part(part)}")
    return lines


def render_trajectory(t: Trajectory) -> str:
    usage = t.usage
    lines = [
        f"trajectory {t.id}  v{t.version}  {t.status}  outcome={t.outcome.label}",
        f"  agent: {t.agent_name or '-'}   service: {t.service_name or '-'}   "
        f"duration: {t.duration_ms:.0f} ms   spans: {t.span_count}",
        f"  models: {', '.join(t.models) or '-'}   tools: {', '.join(t.tools_used) or '-'}   "
        f"tokens: {usage.input_tokens or 0} in / {usage.output_tokens or 0} out",
    ]
    if t.task:
        lines.append(f"  task: {_clip(t.task)}")
    if t.reward is not None:
        lines.append(f"  reward: {t.reward}")
    previous: list[Message] = []
    for turn in t.turns:
        tokens = f"{turn.usage.input_tokens or 0}/{turn.usage.output_tokens or 0} tok"
        model = turn.response_model or turn.request_model or "?"
        lines.append("")
        lines.append(
            f"turn {turn.index}  {model}  {turn.latency_ms:.0f} ms  {tokens}  "
            f"finish={turn.finish_reason or '-'}" + (f"  error={turn.error_type}" if turn.error_type else "")
        )
        # Show only what is new in this call's input: the rest was shown in earlier turns.
        # (An output message comes back as input without its finish reason: compare content.)
        shared = 0
        for a, b in zip(turn.input_messages, previous, strict=False):
            if (a.role, a.parts) != (b.role, b.parts):
                break
            shared += 1
        if shared:
            lines.append(f"   … {shared} earlier message(s)")
        for message in turn.input_messages[shared:]:
            lines.extend(_message(message, "   "))
        for message in turn.output_messages:
            lines.extend(_message(message, " ⇒ "))
        for call in turn.tool_calls:
            source = f", {call.result_source}" if call.result_source else ""
            lines.append(f"     tool {call.name} [{call.status}{source}]: {_clip(_json(call.result), 80)}")
        previous = turn.input_messages + turn.output_messages
    return "\n".join(lines)


def render_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(no trajectories)"
    cells = [
        [_clip(_json(r.get(c, "")) if not isinstance(r.get(c), str) else r.get(c, ""), 40) for c in columns]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)
