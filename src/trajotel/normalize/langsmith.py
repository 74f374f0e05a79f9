"""LangSmith's OpenTelemetry export (``LANGSMITH_OTEL_ENABLED=true``): one span per LangSmith run,
``langsmith.*`` attributes, and the run's inputs and outputs as JSON in ``gen_ai.prompt`` /
``gen_ai.completion``.

The run type (``langsmith.span.kind``) says what a span is: ``llm`` runs are model calls, ``tool``
runs tool executions, and the outermost LangGraph graph call of a run (a ``chain`` carrying
LangGraph's ``ls_integration`` metadata but no ``langgraph_node``: it is not inside a graph
node) is the agent run, as trajotel's own LangGraph instrumentation records it. Other chains,
prompt templates and parsers are plain spans: LangSmith's ``gen_ai.operation.name`` for them
(``chain``, and ``chat`` for a prompt template) is not a GenAI operation.

An ``llm`` run's messages are LangChain messages (serialized ``{"lc": 1, "kwargs": ...}`` objects
or their plain dumps) or, for a wrapped OpenAI client, the request and response themselves. They
are rebuilt as the OpenAI chat messages ``langchain-openai`` sends and receives, then converted
exactly as trajotel's own instrumentation converts those, so the same call gives the same
canonical messages (and content hashes) whichever of the two recorded it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.instrument.anthropic.content import map_stop_reason
from trajotel.normalize.dialect import Dialect, Shaped
from trajotel.normalize.values import json_or_text

KIND = "langsmith.span.kind"
PROMPT = "gen_ai.prompt"
COMPLETION = "gen_ai.completion"
_METADATA = "langsmith.metadata."
# What LangSmith's exporter sets as gen_ai.operation.name for a run type (others: the run type).
_LANGSMITH_OPERATIONS = {
    "llm": "chat",
    "tool": "execute_tool",
    "retriever": "embeddings",
    "embedding": "embeddings",
    "prompt": "chat",
}
# What the run types are in GenAI terms.
_OPERATIONS = {"llm": "chat", "tool": "execute_tool", "retriever": "retrieval", "embedding": "embeddings"}
# LangChain message type -> chat role.
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
# Content blocks that repeat a message's tool calls (Anthropic's, LangChain's standard blocks).
_TOOL_CALL_BLOCKS = ("tool_use", "tool_call")


def _json_object(attributes: dict[str, str], key: str) -> dict[str, Any]:
    value = json_or_text(attributes.get(key))
    if not isinstance(value, dict):
        raise ValueError(f"{key}: must be a JSON object, got {type(value).__name__}")
    return value


def _langchain_fields(message: Any) -> dict[str, Any]:
    """A LangChain message in any of the JSON forms LangSmith records, as its fields with
    ``type``: serialized (``lc``/``kwargs``), dumped, a ``(role, text)`` pair or a bare string."""
    if isinstance(message, str):
        return {"type": "human", "content": message}
    if isinstance(message, list) and len(message) == 2 and all(isinstance(v, str) for v in message):
        return {"type": message[0], "content": message[1]}
    if not isinstance(message, dict):
        raise ValueError(f"a message must be an object, got {type(message).__name__}")
    if message.get("lc") == 1 and isinstance(message.get("kwargs"), dict):
        fields = dict(message["kwargs"])
        class_name = str((message.get("id") or [""])[-1])  # e.g. "HumanMessage"
        fields.setdefault("type", class_name.removesuffix("Message").lower())
        return fields
    return message


def _openai_tool_calls(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """LangChain tool calls (``args`` as an object; invalid ones with their raw text), as OpenAI
    tool calls, the way ``langchain-openai`` sends them back to the model."""
    calls = fields.get("tool_calls") or []
    if not calls:  # older LangChain: only the provider's own, already in OpenAI form
        return list((fields.get("additional_kwargs") or {}).get("tool_calls") or [])
    invalid = fields.get("invalid_tool_calls") or []
    return [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {"name": c.get("name"), "arguments": c.get("args")},
        }
        for c in [*calls, *invalid]
        if isinstance(c, dict)
    ]


def _content(fields: dict[str, Any], has_tool_calls: bool) -> Any:
    content = fields.get("content")
    if isinstance(content, list) and has_tool_calls:
        return [b for b in content if not (isinstance(b, dict) and b.get("type") in _TOOL_CALL_BLOCKS)]
    return content


def openai_message(message: Any, *, is_output: bool = False) -> dict[str, Any]:
    """A LangChain (or already OpenAI) message as the OpenAI chat message it stands for."""
    if isinstance(message, dict) and "role" in message and "lc" not in message:
        return message
    fields = _langchain_fields(message)
    kind = str(fields.get("type"))
    if kind.endswith("MessageChunk"):  # a streamed message: "AIMessageChunk", ...
        kind = kind.removesuffix("MessageChunk").lower()
    role = fields.get("role") if kind == "chat" else _ROLES.get(kind, kind)
    if role == "tool":
        return {"role": "tool", "content": fields.get("content"), "tool_call_id": fields.get("tool_call_id")}
    out: dict[str, Any] = {"role": role}
    if role == "assistant":
        calls = _openai_tool_calls(fields)
        extra = fields.get("additional_kwargs") or {}
        out["content"] = _content(fields, bool(calls))
        if calls:
            out["tool_calls"] = calls
        for key in ("reasoning_content", "refusal") if is_output else ("reasoning_content",):
            if extra.get(key):
                out[key] = extra[key]
    else:
        out["content"] = fields.get("content")
    if fields.get("name") and not is_output:  # langchain-openai sends names, except on tool messages
        out["name"] = fields["name"]
    return out


def _prompt_messages(prompt: dict[str, Any]) -> list[Any]:
    """The messages of an ``llm`` run's inputs: ``{"messages": [[...]]}`` (a chat model's, one
    list per run), ``{"messages": [...]}`` (a wrapped client's request) or ``{"prompts": [...]}``."""
    if "prompts" in prompt:
        return [{"role": "user", "content": text} for text in prompt["prompts"] or []]
    messages = prompt.get("messages")
    if not isinstance(messages, list):
        raise ValueError(f"{PROMPT}: no messages (keys: {sorted(prompt)[:8]})")
    if messages and all(isinstance(m, list) and not all(isinstance(v, str) for v in m) for m in messages):
        if len(messages) != 1:
            raise ValueError(f"{PROMPT}: {len(messages)} message lists in one run, expected 1")
        return messages[0]
    return messages


def _generation_fields(generation: Any) -> dict[str, Any]:
    """The fields of a LangChain generation's message (a completion model's: its text)."""
    if not isinstance(generation, dict):
        raise ValueError(f"{COMPLETION}: a generation must be an object, got {type(generation).__name__}")
    message = generation.get("message")
    return (
        _langchain_fields(message)
        if message is not None
        else {"type": "ai", "content": generation.get("text")}
    )


def _generation_choice(index: int, generation: dict[str, Any]) -> dict[str, Any]:
    """One LangChain generation as an OpenAI choice (finish reason from generation_info, else
    the message's response metadata: OpenAI's ``finish_reason``, Anthropic's ``stop_reason``)."""
    fields = _generation_fields(generation)
    metadata = fields.get("response_metadata") or {}
    reason = (generation.get("generation_info") or {}).get("finish_reason") or metadata.get("finish_reason")
    if not reason and metadata.get("stop_reason"):
        reason = map_stop_reason(metadata["stop_reason"])
    return {"index": index, "finish_reason": reason, "message": openai_message(fields, is_output=True)}


def _langchain_response(completion: dict[str, Any], shaped: Shaped) -> list[dict[str, Any]]:
    """An ``LLMResult`` (``generations``: one list per prompt, one run has one) as OpenAI
    choices; the response's id, model, fingerprint and token details go to ``shaped``."""
    groups = completion["generations"]
    if not isinstance(groups, list) or not groups:
        raise ValueError(f"{COMPLETION}: generations must be a non-empty list")
    generations = [g for group in groups for g in (group if isinstance(group, list) else [group])]
    choices = [_generation_choice(i, g) for i, g in enumerate(generations)]
    first = _generation_fields(generations[0]) if generations else {}
    metadata, usage = first.get("response_metadata") or {}, first.get("usage_metadata") or {}
    for source, target in (
        ("id", sc.GEN_AI_RESPONSE_ID),
        ("model_name", sc.GEN_AI_RESPONSE_MODEL),
        ("system_fingerprint", sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT),
        ("service_tier", sc.OPENAI_RESPONSE_SERVICE_TIER),
    ):
        if metadata.get(source) is not None:
            shaped.attributes[target] = str(metadata[source])
    details = (
        (usage.get("input_token_details") or {}, "cache_read", sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        (usage.get("input_token_details") or {}, "cache_creation", sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        (usage.get("output_token_details") or {}, "reasoning", sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
    )
    for source, key, target in details:
        if isinstance(source.get(key), int):
            shaped.attributes[target] = str(source[key])
    return choices


@contextmanager
def _reading(key: str) -> Iterator[None]:
    """Name the attribute when its JSON is not shaped as LangSmith writes it."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"{key}: unexpected structure ({type(exc).__name__}: {exc})") from None


def _model_call(attributes: dict[str, str], shaped: Shaped) -> None:
    if PROMPT in attributes:
        with _reading(PROMPT):
            _model_input(_json_object(attributes, PROMPT), shaped)
    if COMPLETION in attributes:
        with _reading(COMPLETION):
            _model_output(_json_object(attributes, COMPLETION), shaped)


def _model_input(prompt: dict[str, Any], shaped: Shaped) -> None:
    """A chat model's messages, a completion model's prompts, or a wrapped client's request."""
    shaped.input_messages = genai.input_messages([openai_message(m) for m in _prompt_messages(prompt)])
    if "prompts" in prompt:
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = sc.OP_TEXT_COMPLETION
    if prompt.get("tools"):  # a wrapped client's request
        shaped.tool_definitions = genai.tool_definitions(prompt["tools"])
    shaped.consumed.add(PROMPT)


def _model_output(completion: dict[str, Any], shaped: Shaped) -> None:
    """LangChain generations, or a wrapped OpenAI client's response."""
    if "generations" in completion:
        choices = _langchain_response(completion, shaped)
    elif isinstance(completion.get("choices"), list):  # a wrapped OpenAI client's response
        choices = completion["choices"]
        shaped.attributes.update(
            {k: str(v) for k, v in genai.usage_attributes(completion.get("usage")).items()}
        )
    else:
        raise ValueError(f"{COMPLETION}: neither LangChain generations nor an OpenAI response")
    shaped.output_messages = genai.output_messages(choices)
    shaped.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = json.dumps(genai.finish_reasons(choices))
    shaped.consumed.add(COMPLETION)


def _tool_call(attributes: dict[str, str], shaped: Shaped) -> None:
    """A tool run: inputs are the arguments; outputs ``{"output": ToolMessage or value}``."""
    if PROMPT in attributes:
        shaped.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS] = attributes[PROMPT]
        shaped.consumed.add(PROMPT)
    if COMPLETION in attributes:
        completion = json_or_text(attributes[COMPLETION])
        output = completion.get("output") if isinstance(completion, dict) else completion
        if isinstance(output, dict) and output.get("type") == "tool":  # a ToolMessage
            if output.get("status") == "error":
                shaped.attributes[sc.ERROR_TYPE] = sc.ERROR_TYPE_TOOL_ERROR
            output = output.get("content")
        shaped.attributes[sc.GEN_AI_TOOL_CALL_RESULT] = (
            output if isinstance(output, str) else json.dumps(output)
        )
        shaped.consumed.add(COMPLETION)


def _task(attributes: dict[str, str]) -> str | None:
    """The agent run's task: the text of the last user message of its input."""
    prompt = json_or_text(attributes.get(PROMPT))
    messages = prompt.get("messages") if isinstance(prompt, dict) else prompt
    if isinstance(messages, str):
        return messages
    try:
        converted = genai.input_messages([openai_message(m) for m in messages or []])
    except (ValueError, TypeError, AttributeError):
        return None  # a graph's input can be anything: no task then
    for message in reversed(converted):
        if message["role"] == "user":
            return "".join(p["content"] for p in message["parts"] if p["type"] == "text") or None
    return None


def _is_agent_run(attributes: dict[str, str]) -> bool:
    return (
        attributes.get(KIND) == "chain"
        and f"{_METADATA}ls_integration" in attributes
        and f"{_METADATA}langgraph_node" not in attributes
    )


def shape(attributes: dict[str, str]) -> Shaped:
    shaped = Shaped()
    kind = attributes.get(KIND, "")
    if attributes.get(sc.GEN_AI_OPERATION_NAME) == _LANGSMITH_OPERATIONS.get(kind, kind):
        shaped.consumed.add(sc.GEN_AI_OPERATION_NAME)  # LangSmith's guess, replaced below
    if attributes.get(sc.GEN_AI_SYSTEM) == "langchain":  # LangSmith's "provider unknown"
        shaped.consumed.add(sc.GEN_AI_SYSTEM)
        if kind == "llm" and attributes.get(f"{_METADATA}ls_provider"):  # LangChain's own name
            shaped.attributes[sc.GEN_AI_PROVIDER_NAME] = attributes[f"{_METADATA}ls_provider"]
    operation = _OPERATIONS.get(kind)
    if kind == "llm":
        _model_call(attributes, shaped)
    elif kind == "tool":
        _tool_call(attributes, shaped)
    elif _is_agent_run(attributes):
        operation = sc.OP_INVOKE_AGENT
        name = attributes.get(f"{_METADATA}lc_agent_name") or attributes.get("langsmith.trace.name")
        if name:
            shaped.attributes[sc.GEN_AI_AGENT_NAME] = name
        task = _task(attributes)
        if task:
            shaped.attributes[sc.TRAJOTEL_TASK] = task
    if operation:
        shaped.attributes.setdefault(sc.GEN_AI_OPERATION_NAME, operation)
    return shaped


DIALECT = Dialect(
    name="langsmith",
    markers=(KIND,),
    renames={
        "gen_ai.response.system_fingerprint": sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
        "gen_ai.response.service_tier": sc.OPENAI_RESPONSE_SERVICE_TIER,
        f"{_METADATA}ls_temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
        f"{_METADATA}ls_max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    },
    shape=shape,
)
