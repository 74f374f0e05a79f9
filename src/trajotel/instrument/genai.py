"""Provider-neutral GenAI span building, shared by every trajotel instrumentor.

Message helpers read the OpenAI chat format, which most providers and OpenAI-compatible servers
speak. Every helper accepts plain dicts, TypedDicts or pydantic-style objects (the SDKs accept
all three) and only reads them: the caller's objects are never mutated.

This module runs inside users' agents, so it imports nothing from trajotel's collector side.

Redaction hook: set ``TRAJOTEL_REDACT=module.path:function`` to run every content value through
``function`` before it is recorded. The hook receives a dict of JSON values in the GenAI parts
shape, with the keys ``input_messages``, ``tool_definitions`` and, for providers that carry them
apart from the messages, ``system_instructions`` (when the request is recorded,
at the span's start) or ``output_messages`` (at its end); it gets a copy, and returns the value
to record (same keys; a key it drops is not recorded)::

    def redact(content: dict) -> dict:
        for message in content.get("input_messages", []) + content.get("output_messages", []):
            for part in message["parts"]:
                if part.get("type") == "text":
                    part["content"] = EMAIL.sub("<email>", part["content"])
        return content

The hook is imported once, on first use. It fails closed: if it raises, returns something
other than a dict, or cannot be imported, that content is not recorded (a warning or error is
logged) and the raw content never is. Per-token outputs (``trajotel.output.tokens``, token ids)
cannot be redacted by such a hook, so they are not recorded while a hook is configured.
"""

from __future__ import annotations

import enum
import functools
import importlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from opentelemetry import _logs, context, trace
from opentelemetry.trace import Span, Status, StatusCode

from trajotel import semconv as sc

logger = logging.getLogger(__name__)

T = TypeVar("T")


# --- content capture -----------------------------------------------------------------------


class ContentCapture(enum.Enum):
    """Values of ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (ContentCapture.SPAN_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        """Content goes to a ``gen_ai.client.inference.operation.details`` event (Logs API)."""
        return self in (ContentCapture.EVENT_ONLY, ContentCapture.SPAN_AND_EVENT)

    @property
    def wanted(self) -> bool:
        """Whether content must be built at all (for the span, the event, or both)."""
        return self is not ContentCapture.NO_CONTENT


# Unlike upstream instrumentations, trajotel records content by default: a trajectory needs it.
DEFAULT_CONTENT_CAPTURE = ContentCapture.SPAN_ONLY
_LEGACY_CAPTURE_VALUES = {"true": ContentCapture.SPAN_ONLY, "false": ContentCapture.NO_CONTENT}


def content_capture_mode(environ: Mapping[str, str] | None = None) -> ContentCapture:
    """Resolve the content capture mode from the environment (case-insensitive)."""
    env = os.environ if environ is None else environ
    raw = env.get(sc.ENV_CAPTURE_MESSAGE_CONTENT, "").strip()
    if not raw:
        return DEFAULT_CONTENT_CAPTURE
    mode = ContentCapture.__members__.get(raw.upper()) or _LEGACY_CAPTURE_VALUES.get(raw.lower())
    if mode is not None:
        return mode
    # Someone tried to configure capture and got it wrong: err on the side of privacy.
    _warn_once(f"unknown {sc.ENV_CAPTURE_MESSAGE_CONTENT}={raw!r}; recording no message content")
    return ContentCapture.NO_CONTENT


# --- redaction hook ------------------------------------------------------------------------

RedactHook = Callable[[dict[str, Any]], Any]

_CONTENT_ATTRIBUTES = {
    "system_instructions": sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    "input_messages": sc.GEN_AI_INPUT_MESSAGES,
    "output_messages": sc.GEN_AI_OUTPUT_MESSAGES,
    "tool_definitions": sc.GEN_AI_TOOL_DEFINITIONS,
}


class _LoadFailed:
    """The cached result of a hook path that could not be loaded: record no content."""


_hooks: dict[str, RedactHook | _LoadFailed] = {}
_hooks_lock = threading.Lock()
_failed_hooks: set[int] = set()


def redaction_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get(sc.ENV_REDACT, "").strip())


def _load_hook(spec: str) -> RedactHook | _LoadFailed:
    module_name, _, attribute = spec.partition(":")
    try:
        if not module_name or not attribute:
            raise ValueError("expected 'module.path:function'")
        target: Any = importlib.import_module(module_name)
        for name in attribute.split("."):
            target = getattr(target, name)
        if not callable(target):
            raise TypeError(f"{spec} is not callable")
        hook: RedactHook = target
        return hook
    except Exception:
        logger.error(
            "trajotel: cannot load the redaction hook %s=%r; recording no message content",
            sc.ENV_REDACT,
            spec,
            exc_info=True,
        )
        return _LoadFailed()


def redaction_hook(environ: Mapping[str, str] | None = None) -> RedactHook | _LoadFailed | None:
    """The configured hook (imported once per configured path), or None when none is set."""
    env = os.environ if environ is None else environ
    spec = env.get(sc.ENV_REDACT, "").strip()
    if not spec:
        return None
    hook = _hooks.get(spec)
    if hook is None:
        with _hooks_lock:  # import once, even when the first calls race on several threads
            hook = _hooks.get(spec)
            if hook is None:
                hook = _hooks[spec] = _load_hook(spec)
    return hook


def redact(content: Mapping[str, Any]) -> dict[str, Any] | None:
    """``content`` as the redaction hook returns it, or None when nothing may be recorded."""
    hook = redaction_hook()
    if hook is None:
        return dict(content)
    if isinstance(hook, _LoadFailed):
        return None
    # A JSON round trip gives the hook plain values it may mutate: the parts can hold the
    # caller's own objects (tool parameters, ...), which must stay untouched.
    copy = json.loads(to_json(dict(content)))
    try:
        result = hook(copy)
    except Exception:
        # A hook that fails on every call would flood the logs: one traceback, then debug lines.
        level = logging.DEBUG if id(hook) in _failed_hooks else logging.WARNING
        _failed_hooks.add(id(hook))
        logger.log(level, "trajotel: the redaction hook %r raised; content not recorded", hook, exc_info=True)
        return None
    if not isinstance(result, Mapping):
        kind = type(result).__name__
        _warn_once(f"the redaction hook {hook!r} returned {kind}, not a dict; content not recorded")
        return None
    return dict(result)


def record_content(span: Span, content: Mapping[str, Any], mode: ContentCapture | None = None) -> None:
    """Record ``content`` (keys as in ``_CONTENT_ATTRIBUTES``), redacted, where ``mode`` says.

    On the span: JSON strings. For the event: kept with the span until its output is recorded
    (or it fails), then emitted once with everything (see ``emit_operation_details``).
    """
    mode = mode or content_capture_mode()
    if not mode.wanted:
        return
    redacted = redact(content)
    if redacted is None:
        return
    values = {
        attribute: redacted[key]
        for key, attribute in _CONTENT_ATTRIBUTES.items()
        if key in content and redacted.get(key) is not None
    }
    if mode.on_span:
        set_attributes(span, {attribute: to_json(value) for attribute, value in values.items()})
    if mode.on_event:
        with _event_lock:
            _event_content.setdefault(span, {}).update(values)
        if "output_messages" in content:
            emit_operation_details(span)


# --- content events ------------------------------------------------------------------------

# Content waiting for its call's event, by span (weak: a span that never ends takes it along).
_event_content: weakref.WeakKeyDictionary[Span, dict[str, Any]] = weakref.WeakKeyDictionary()
_event_lock = threading.Lock()
# Span attributes the event repeats (the conventions: all inference-span attributes).
_EVENT_ATTRIBUTE_PREFIXES = ("gen_ai.", "server.", "error.", "trajotel.")


def emit_operation_details(span: Span) -> None:
    """Emit the call's ``gen_ai.client.inference.operation.details`` event, once.

    A log record through the global logger provider (``opentelemetry-instrument`` exports it
    when ``OTEL_LOGS_EXPORTER`` is set; trajotel's distro sets ``otlp``), in the span's context,
    with the span's GenAI attributes and the content as structured values (not JSON strings).
    """
    with _event_lock:
        content = _event_content.pop(span, None)
    if content is None:
        return
    attributes: dict[str, Any] = {
        key: value
        for key, value in (getattr(span, "attributes", None) or {}).items()
        if key.startswith(_EVENT_ATTRIBUTE_PREFIXES) and key not in _CONTENT_ATTRIBUTES.values()
    }
    # JSON round trip: plain lists and dicts of str/number/bool, as OTLP AnyValue can carry.
    attributes.update(json.loads(to_json(content)))
    logger_ = _logs.get_logger(__name__)
    logger_.emit(
        _logs.LogRecord(
            event_name=sc.EVENT_GEN_AI_OPERATION_DETAILS,
            context=trace.set_span_in_context(span),
            attributes=attributes,
        )
    )


# --- safety --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _warn_once(message: str) -> None:
    logger.warning("trajotel: %s", message)


def safe_call(fn: Callable[..., T], *args: Any, default: T | None = None) -> T | None:
    """Run an instrumentation step; log and swallow its errors so the agent never sees them."""
    try:
        return fn(*args)
    except Exception:
        name = getattr(fn, "__qualname__", repr(fn))
        # The first failure of each step is a warning with a traceback; repeats would flood logs.
        if name in _failed_steps:
            logger.debug("trajotel: instrumentation step %s failed", name, exc_info=True)
        else:
            _failed_steps.add(name)
            logger.warning("trajotel: instrumentation step %s failed", name, exc_info=True)
        return default


_failed_steps: set[str] = set()


# --- generic readers -----------------------------------------------------------------------


def is_given(value: Any) -> bool:
    """False for None and the SDKs' "not given" sentinels (Stainless ``NotGiven`` / ``Omit``)."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a mapping or an object; absent, None and sentinels give ``default``."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        value = obj.get(name, default)
    else:
        # Pydantic models (every SDK response object) keep fields in ``__dict__`` and unknown
        # server fields in ``__pydantic_extra__``. Reading those first matters on hot paths
        # (stream chunks): ``getattr`` of an absent name goes through pydantic's ``__getattr__``,
        # which raises and catches an AttributeError each time.
        fields = getattr(obj, "__dict__", None)
        if fields is not None and name in fields:
            value = fields[name]
        else:
            extra = getattr(obj, "__pydantic_extra__", None)
            if extra is not None and name in extra:
                value = extra[name]
            elif extra is not None and not hasattr(type(obj), name):
                value = default  # a pydantic model without that field, property or method
            else:
                value = getattr(obj, name, default)
    return value if value is not None and is_given(value) else default


def _items(value: Any) -> list[Any]:
    """A list view of a list-like value (a lone string or mapping counts as one item)."""
    if value is None or not is_given(value) or isinstance(value, Iterator):
        # A one-shot iterator would be consumed here and arrive empty at the SDK: leave it alone.
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def to_json(value: Any) -> str:
    """Compact JSON, as the GenAI content attributes carry it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def is_one_shot(value: Any) -> bool:
    # Anything not iterable is the SDK's to reject, exactly as it would without us.
    return isinstance(value, Iterable) and not isinstance(value, (list, tuple, Mapping, str, bytes))


def readable_kwargs(kwargs: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Turn the one-shot iterables among ``names`` into lists (in a copy) so both the span and
    the SDK can read them.

    SDKs turn them into lists themselves, so the request is unchanged; if iterating the caller's
    iterable raises, the exception is the one the SDK would have raised while iterating it.
    """
    one_shot = [k for k in names if is_given(kwargs.get(k)) and is_one_shot(kwargs[k])]
    if not one_shot:
        return kwargs
    copy = dict(kwargs)
    for key in one_shot:
        copy[key] = list(copy[key])
    return copy


def attach_span(span: Span) -> object:
    """Make ``span`` current (only around the HTTP call, so HTTP client spans nest under it)."""
    return context.attach(trace.set_span_in_context(span))


class TracedCall(Protocol):
    """What ``call_with_span`` needs of a provider's call object."""

    span: Span

    def fail(self, exc: BaseException) -> None: ...


def call_with_span(call: TracedCall, invoke: Callable[[], T]) -> T:
    """Run the SDK call ``invoke`` with ``call.span`` current; a failure is recorded, then re-raised.

    The span is current during the request only (detached before returning), so a stream read
    later in another task or thread never detaches a context it did not attach.
    """
    token = safe_call(attach_span, call.span)
    try:
        return invoke()
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        if token is not None:
            safe_call(context.detach, token)


async def await_with_span(call: TracedCall, invoke: Callable[[], Awaitable[T]]) -> T:
    """``call_with_span`` for coroutines: attached and detached in this coroutine, one context."""
    token = safe_call(attach_span, call.span)
    try:
        return await invoke()
    except BaseException as exc:
        call.fail(exc)
        raise
    finally:
        if token is not None:
            safe_call(context.detach, token)


def client_base_url(resource: Any) -> Any:
    """The ``base_url`` of the client an SDK resource (``client.chat.completions``...) belongs to."""
    return getattr(getattr(resource, "_client", None), "base_url", None)


def number(value: Any) -> float | int | None:
    """A numeric request parameter, or None (bools are not numbers here)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set the attributes that hold a valid OpenTelemetry value; drop None and anything else."""
    for key, value in attributes.items():
        if isinstance(value, (str, bool, int, float)):
            span.set_attribute(key, value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            span.set_attribute(key, list(value))


def span_name(operation: str, model: Any) -> str:
    return f"{operation} {model}" if isinstance(model, str) and model else operation


def server_attributes(base_url: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` from a client's base URL (str or URL object)."""
    if base_url is None:
        return {}
    parts = urlsplit(str(base_url))
    if not parts.hostname:
        return {}
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return {sc.SERVER_ADDRESS: parts.hostname, sc.SERVER_PORT: port}


# --- messages ------------------------------------------------------------------------------


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments as a JSON value; a string that is not valid JSON stays as it is."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _text_part(text: str) -> dict[str, Any]:
    return {"type": sc.PART_TEXT, "content": text}


def _modality(mime_type: str | None) -> str:
    major = (mime_type or "").split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "document"


def _data_url(value: str) -> tuple[str | None, str]:
    """Split ``data:<mime>;base64,<data>`` into mime type and data; other strings are plain data."""
    if value.startswith("data:") and "," in value:
        header, data = value[5:].split(",", 1)
        return header.split(";", 1)[0] or None, data
    return None, value


def _file_part(spec: Any) -> dict[str, Any]:
    file_id = field(spec, "file_id")
    if file_id:
        return {"type": sc.PART_FILE, "modality": "document", "file_id": file_id}
    mime_type, data = _data_url(str(field(spec, "file_data", "")))
    part = {"type": sc.PART_BLOB, "modality": _modality(mime_type), "content": data}
    if mime_type:
        part["mime_type"] = mime_type
    return part


def _content_item_part(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return _text_part(item)
    kind = field(item, "type")
    if kind == "text":
        return _text_part(field(item, "text", ""))
    if kind == "refusal":
        return _text_part(field(item, "refusal", ""))
    if kind == "image_url":
        return {"type": sc.PART_URI, "modality": "image", "uri": field(field(item, "image_url"), "url")}
    if kind == "input_audio":
        audio = field(item, "input_audio")
        part = {"type": sc.PART_BLOB, "modality": "audio", "content": field(audio, "data")}
        if field(audio, "format"):
            part["mime_type"] = f"audio/{field(audio, 'format')}"
        return part
    if kind == "file":
        return _file_part(field(item, "file"))
    # Unknown part types travel as generic parts: keep everything rather than guess.
    generic = json.loads(to_json(item))
    return generic if isinstance(generic, dict) else {"type": str(kind), "content": generic}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """OpenAI ``content`` (string or list of content items) as GenAI parts; empty text is dropped."""
    if isinstance(content, str):
        return [_text_part(content)] if content else []
    parts = []
    for item in _items(content):
        part = _content_item_part(item)
        if not (part.get("type") == sc.PART_TEXT and not part.get("content")):
            parts.append(part)
    return parts


def tool_call_part(call: Any) -> dict[str, Any]:
    """An assistant tool call (function or custom tool) as a ``tool_call`` part."""
    function = field(call, "function")
    spec = function if function is not None else field(call, "custom")
    arguments = field(spec, "arguments") if function is not None else field(spec, "input")
    return {
        "type": sc.PART_TOOL_CALL,
        "id": field(call, "id"),
        "name": field(spec, "name"),
        "arguments": parse_arguments(arguments),
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(field(item, "text", "")) for item in _items(content))


def _reasoning_text(message: Any) -> str | None:
    # OpenAI-compatible servers disagree on the name (vLLM/DeepSeek vs OpenRouter).
    for name in ("reasoning_content", "reasoning"):
        value = field(message, name)
        if isinstance(value, str) and value:
            return value
    return None


def _assistant_parts(message: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    reasoning = _reasoning_text(message)
    if reasoning:  # reasoning comes first: it happened before the answer
        parts.append({"type": sc.PART_REASONING, "content": reasoning})
    parts.extend(content_parts(field(message, "content")))
    refusal = field(message, "refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(_text_part(refusal))
    parts.extend(tool_call_part(call) for call in _items(field(message, "tool_calls")))
    function_call = field(message, "function_call")  # pre-tools API, still accepted
    if function_call is not None:
        parts.append(tool_call_part({"function": function_call}))
    return parts


def input_message(message: Any) -> dict[str, Any]:
    """One OpenAI chat message as a GenAI input message (system/developer keep their role)."""
    role = field(message, "role")
    if role in ("tool", "function"):
        response = {
            "type": sc.PART_TOOL_CALL_RESPONSE,
            "id": field(message, "tool_call_id"),
            "response": _text_of(field(message, "content")),
        }
        result: dict[str, Any] = {"role": "tool", "parts": [response]}
    else:
        result = {"role": role, "parts": _assistant_parts(message)}
    name = field(message, "name")
    if isinstance(name, str) and name:
        result["name"] = name
    return result


def input_messages(messages: Any) -> list[dict[str, Any]]:
    return [input_message(message) for message in _items(messages)]


_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "content_filter": "content_filter",
}


def map_finish_reason(raw: Any) -> str:
    """Provider finish reason → GenAI output-message finish reason (unknown values pass through)."""
    if not isinstance(raw, str) or not raw:
        return "error"
    return _FINISH_REASONS.get(raw, raw)


def _choice_index(choice: Any) -> int:
    index = field(choice, "index", 0)
    return index if isinstance(index, int) else 0


def _sorted_choices(choices: Any) -> list[Any]:
    return sorted(_items(choices), key=_choice_index)


def finish_reasons(choices: Any) -> list[str]:
    """Raw finish reasons, one per choice (a missing one is reported as "error")."""
    return [field(choice, "finish_reason") or "error" for choice in _sorted_choices(choices)]


def output_messages(choices: Any) -> list[dict[str, Any]]:
    """One GenAI output message per choice."""
    return [
        {
            "role": "assistant",
            "parts": _assistant_parts(field(choice, "message")),
            "finish_reason": map_finish_reason(field(choice, "finish_reason")),
        }
        for choice in _sorted_choices(choices)
    ]


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Request tools as GenAI tool definitions: {type, name, description?, parameters?}."""
    definitions = []
    for tool in _items(tools):
        kind = field(tool, "type", "function")
        spec = field(tool, kind) or field(tool, "function") or {}
        definition: dict[str, Any] = {"type": kind, "name": field(spec, "name")}
        for key in ("description", "parameters"):
            if field(spec, key) is not None:
                definition[key] = field(spec, key)
        definitions.append(definition)
    return definitions


# --- usage and errors ----------------------------------------------------------------------


def usage_attributes(usage: Any) -> dict[str, int]:
    """Token usage attributes from an OpenAI-style usage object (chat or responses names)."""
    prompt_details = field(usage, "prompt_tokens_details") or field(usage, "input_tokens_details")
    completion_details = field(usage, "completion_tokens_details") or field(usage, "output_tokens_details")
    values = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: field(usage, "prompt_tokens", field(usage, "input_tokens")),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: field(usage, "completion_tokens", field(usage, "output_tokens")),
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: field(prompt_details, "cached_tokens"),
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: field(completion_details, "reasoning_tokens"),
    }
    return {k: v for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool)}


def record_error(span: Span, exc: BaseException, error_type: str | None = None) -> None:
    """Mark the span failed: ``error.type``, ERROR status and the exception event.

    A failed call's content event (input only) is emitted here: no output will come.
    """
    span.set_attribute(sc.ERROR_TYPE, error_type or type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__qualname__))
    span.record_exception(exc)
    safe_call(emit_operation_details, span)
