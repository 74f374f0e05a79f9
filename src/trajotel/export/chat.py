"""trajotel messages as OpenAI-style chat messages, the form every export format starts from.

A ``ChatStyle`` says what the consumer accepts: tool-call arguments as a JSON string (OpenAI
family) or an object (Hugging Face chat templates), reasoning kept as ``reasoning_content`` or
dropped, tool messages with the tool's ``name``, per-assistant-message ``weight``, content parts
for images and files or text only. The conversion itself is the same for everyone:

* system / developer messages become one message of that role (text only);
* a ``tool_call_response`` part becomes a ``tool`` message with ``tool_call_id``, wherever it
  came (a ``tool`` message for OpenAI-style runs, a ``user`` message for Anthropic-style ones,
  where the user's other parts follow as a user message);
* an assistant message's reasoning parts, text and ``tool_call`` parts become
  ``reasoning_content``, ``content`` and ``tool_calls``;
* tool calls without an id (some providers have none) get ``call_<n>``, and a result without
  one answers the oldest unanswered call.

What a consumer's form cannot hold (arguments that are not a JSON object where an object is
required, an unknown role) raises ``Unexpressible``; formats skip that record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from trajotel.assemble.model import Message, Part, Trajectory
from trajotel.export.format import ExportOptions

ArgumentsForm = Literal["string", "object"]

# Roles other conventions use for the four chat roles.
_ROLE_ALIASES = {"model": "assistant", "human": "user", "function": "tool", "ai": "assistant"}
SYSTEM_ROLES = ("system", "developer")


class Unexpressible(ValueError):
    """A record the target format cannot hold; the format skips it (the driver counts it)."""


@dataclass(frozen=True)
class ChatStyle:
    arguments: ArgumentsForm = "string"
    reasoning: bool = False  # keep reasoning parts as the assistant's ``reasoning_content``
    weights: bool = False  # ``weight`` 0/1 on assistant messages (OpenAI / Fireworks SFT)
    tool_name: bool = False  # ``name`` on tool messages (Hugging Face templates read it)
    names: bool = False  # keep ``name`` on system/user/assistant messages (OpenAI accepts it)
    media: bool = True  # images/audio/files as OpenAI content parts; else text parts only
    null_content: bool = True  # an assistant message with only tool calls: content None, else ""
    # String arguments must be JSON (OpenAI family): a call the model wrote as something else
    # makes the example unexpressible instead of teaching malformed calls.
    json_arguments: bool = False
    system_role: str | None = None  # rename system/developer messages (OpenAI RFT: "developer")


def style(
    options: ExportOptions,
    *,
    arguments: ArgumentsForm,
    reasoning: bool,
    **fixed: Any,
) -> ChatStyle:
    """The format's style with the user's options applied: ``arguments`` and ``reasoning`` are
    what the consumer takes when the option is ``auto``."""
    if options.tool_arguments != "auto":
        arguments = options.tool_arguments
    if options.reasoning != "auto":
        reasoning = options.reasoning == "keep"
    return ChatStyle(arguments=arguments, reasoning=reasoning, **fixed)


# --- values -------------------------------------------------------------------------------------


def text_of(value: Any) -> str:
    """A tool result or other JSON value as message text: strings as they are, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def arguments(value: Any, form: ArgumentsForm, where: str = "tool call", strict: bool = False) -> Any:
    """Tool-call arguments as the consumer wants them. The trajectory model keeps parsed JSON, or
    the raw string when the model's arguments were not JSON (kept as is unless ``strict``)."""
    if form == "string":
        if value is None:
            return "{}"
        if not isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        if strict:
            try:
                json.loads(value)
            except ValueError:
                raise Unexpressible(f"{where}: arguments are not JSON: {value[:80]!r}") from None
        return value
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise Unexpressible(f"{where}: arguments are not JSON: {value[:80]!r}") from None
    if not isinstance(value, dict):
        raise Unexpressible(f"{where}: arguments are not a JSON object: {text_of(value)[:80]!r}")
    return value


def texts(parts: Iterable[Part], kind: str = "text") -> list[str]:
    return [p.content for p in parts if p.type == kind and isinstance(p.content, str)]


def message_text(message: Message) -> str:
    return "\n".join(texts(message.parts))


# --- content parts --------------------------------------------------------------------------------


def _media_part(part: Part) -> dict[str, Any] | None:
    """An image, audio or file part as an OpenAI content part (None when it has no such form)."""
    if part.type == "uri" and part.uri and part.modality in (None, "image"):
        return {"type": "image_url", "image_url": {"url": part.uri}}
    if part.type == "blob" and isinstance(part.content, str):
        if part.modality == "image":
            mime = part.mime_type or "image/png"
            return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{part.content}"}}
        if part.modality == "audio":
            fmt = (part.mime_type or "audio/wav").split("/", 1)[1]
            return {"type": "input_audio", "input_audio": {"data": part.content, "format": fmt}}
        mime = part.mime_type or "application/octet-stream"
        return {"type": "file", "file": {"file_data": f"data:{mime};base64,{part.content}"}}
    if part.type == "file" and part.file_id:
        return {"type": "file", "file": {"file_id": part.file_id}}
    return None


def _content(parts: Sequence[Part], chat: ChatStyle) -> str | list[dict[str, Any]]:
    """User content: a string when it is all text (or media is not kept), else content parts."""
    media = [m for p in parts if (m := _media_part(p)) is not None] if chat.media else []
    text = "\n".join(texts(parts))
    if not media:
        return text
    items: list[dict[str, Any]] = []
    for part in parts:
        if part.type == "text" and part.content:
            items.append({"type": "text", "text": part.content})
        elif (m := _media_part(part)) is not None:
            items.append(m)
    return items


# --- messages -----------------------------------------------------------------------------------


class _Ids:
    """Ids for tool calls recorded without one, and the pairing of their results."""

    def __init__(self) -> None:
        self.count = 0
        self.unanswered: list[str] = []

    def call(self, recorded: str | None) -> str:
        if recorded:
            self.unanswered.append(recorded)
            return recorded
        self.count += 1
        made = f"call_{self.count}"
        self.unanswered.append(made)
        return made

    def result(self, recorded: str | None) -> str | None:
        if recorded:
            if recorded in self.unanswered:
                self.unanswered.remove(recorded)
            return recorded
        return self.unanswered.pop(0) if self.unanswered else None


def role_of(message: Message) -> str:
    return _ROLE_ALIASES.get(message.role, message.role)


def _assistant(message: Message, chat: ChatStyle, ids: _Ids, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = "\n".join(texts(message.parts))
    calls = []
    for part in message.parts:
        if part.type != "tool_call":
            continue
        call_id = ids.call(part.id)
        if part.name:
            names[call_id] = part.name
        function = {
            "name": part.name or "",
            "arguments": arguments(
                part.arguments, chat.arguments, f"tool call {part.name!r}", chat.json_arguments
            ),
        }
        calls.append({"id": call_id, "type": "function", "function": function})
    out["content"] = text if text or not calls else (None if chat.null_content else "")
    if chat.reasoning and (reasoning := "\n".join(texts(message.parts, "reasoning"))):
        out["reasoning_content"] = reasoning
    if calls:
        out["tool_calls"] = calls
    if chat.names and message.name:
        out["name"] = message.name
    return out


def _tool(part: Part, chat: ChatStyle, ids: _Ids, names: dict[str, str]) -> dict[str, Any]:
    call_id = ids.result(part.id) or ""
    out: dict[str, Any] = {"role": "tool", "tool_call_id": call_id, "content": text_of(part.response)}
    name = part.name or names.get(call_id)
    if chat.tool_name and name:
        out["name"] = name
    return out


class Converter:
    """Converts messages in order; tool-call ids and names carry over from one call to the next,
    so a conversation can be converted in pieces (a prompt, then its continuations)."""

    def __init__(self, chat: ChatStyle) -> None:
        self.chat = chat
        self.ids = _Ids()
        self.names: dict[str, str] = {}

    def fork(self) -> Converter:
        other = Converter(self.chat)
        other.ids.count, other.ids.unanswered = self.ids.count, list(self.ids.unanswered)
        other.names = dict(self.names)
        return other

    def message(self, message: Message, trainable: bool = True) -> list[dict[str, Any]]:
        chat, role = self.chat, role_of(message)
        if role in SYSTEM_ROLES:
            item: dict[str, Any] = {"role": chat.system_role or role, "content": message_text(message)}
            if chat.names and message.name:
                item["name"] = message.name
            return [item]
        if role == "assistant":
            item = _assistant(message, chat, self.ids, self.names)
            if chat.weights:
                item["weight"] = 1 if trainable else 0
            return [item]
        if role not in ("user", "tool"):
            raise Unexpressible(f"role {message.role!r} has no chat form")
        out = []
        responses = [p for p in message.parts if p.type == "tool_call_response"]
        if role == "tool" and not responses:  # a result recorded as plain text
            responses = [Part(type="tool_call_response", response=message_text(message))]
        out.extend(_tool(p, chat, self.ids, self.names) for p in responses)
        rest = [p for p in message.parts if p.type != "tool_call_response"]
        if role == "user" and (rest or not responses):
            item = {"role": "user", "content": _content(rest, chat)}
            if chat.names and message.name:
                item["name"] = message.name
            out.append(item)
        return out

    def messages(self, messages: Sequence[Message], trainable: Sequence[bool] | None = None) -> list[dict]:
        out: list[dict[str, Any]] = []
        for i, message in enumerate(messages):
            out.extend(self.message(message, trainable is None or trainable[i]))
        return out


def chat_messages(
    messages: Sequence[Message], chat: ChatStyle, trainable: Sequence[bool] | None = None
) -> list[dict[str, Any]]:
    """``messages`` as chat messages; ``trainable`` (one flag per message) sets assistant
    weights when the style has them (default: every assistant message is trained)."""
    return Converter(chat).messages(messages, trainable)


def chat_branches(
    prompt: Sequence[Message], branches: Sequence[Sequence[Message]], chat: ChatStyle
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """A shared prompt and its continuations (preference pairs), each continuation converted as
    if it followed the prompt (its tool results find the prompt's calls)."""
    converter = Converter(chat)
    head = converter.messages(prompt)
    return head, [converter.fork().messages(branch) for branch in branches]


# --- tools --------------------------------------------------------------------------------------


def function_tool(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    """A tool definition (GenAI flat form or OpenAI's nested one) as an OpenAI function tool;
    None for provider-side tools (a versioned ``type`` such as Anthropic's web search)."""
    spec = definition.get("function") if isinstance(definition.get("function"), Mapping) else definition
    kind = definition.get("type") or "function"
    if kind != "function" or not isinstance(spec.get("name"), str):
        return None
    function: dict[str, Any] = {"name": spec["name"]}
    for key in ("description", "parameters", "strict"):
        if spec.get(key) is not None:
            function[key] = spec[key]
    return {"type": "function", "function": function}


def chat_tools(trajectory: Trajectory) -> list[dict[str, Any]]:
    """The trajectory's function tools in OpenAI form (empty when it recorded none)."""
    tools = [function_tool(d) for d in trajectory.tool_definitions if isinstance(d, Mapping)]
    return [t for t in tools if t is not None]


def hf_style(options: ExportOptions, **fixed: Any) -> ChatStyle:
    """Messages for Hugging Face chat templates (TRL, verl, NeMo-RL, OpenRLHF): arguments as
    objects (Llama 3.1, Qwen3.5+, GPT-OSS, GLM-4 templates iterate them), reasoning as
    ``reasoning_content`` (Qwen3 family), tool messages with the tool's name, text content only
    (text templates cannot render image parts)."""
    return style(
        options, arguments="object", reasoning=True, tool_name=True, null_content=False, media=False, **fixed
    )


def tools_json(trajectory: Trajectory) -> str | None:
    """The function tools as one JSON string: the ``tools`` column TRL's trainers ``json.loads``.
    A string, because tools with different parameter schemas in one Arrow column would be merged
    into one struct type, every tool gaining the others' fields as nulls."""
    tools = chat_tools(trajectory)
    return json.dumps(tools, ensure_ascii=False) if tools else None
