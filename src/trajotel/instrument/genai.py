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

import copy
import enum
import functools
import importlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
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


_encoded_name = functools.cache(os.fsencode)
_POSIX = os.name != "nt"


def environ_value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """``environ.get(name, "")``, with a cheap read of ``os.environ`` when ``environ`` is None.

    Settings are read on every call, so a change takes effect at once. But ``os.environ.get``
    of an unset name raises and catches a KeyError inside, and three such reads per call were
    ~7 % of the instrumentation's own time in a real SDK call. On POSIX ``os.environ`` keeps a
    plain dict of bytes (updated by every assignment), which is asked directly instead.
    """
    if environ is not None:
        return environ.get(name, "")
    data = getattr(os.environ, "_data", None)  # absent if a test replaced os.environ by a dict
    if _POSIX and type(data) is dict:
        raw = data.get(_encoded_name(name))
        return "" if raw is None else os.fsdecode(raw)
    return os.environ.get(name, "")


def content_capture_mode(environ: Mapping[str, str] | None = None) -> ContentCapture:
    """Resolve the content capture mode from the environment (case-insensitive)."""
    raw = environ_value(sc.ENV_CAPTURE_MESSAGE_CONTENT, environ).strip()
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
    return bool(environ_value(sc.ENV_REDACT, environ).strip())


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
    spec = environ_value(sc.ENV_REDACT, environ).strip()
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


def record_content(
    span: Span,
    content: Mapping[str, Any],
    mode: ContentCapture | None = None,
    span_attributes: dict[str, Any] | None = None,
) -> None:
    """Record ``content`` (keys as in ``_CONTENT_ATTRIBUTES``), redacted, where ``mode`` says.

    On the span: JSON strings, set at once or, given ``span_attributes``, added to that dict for
    the caller to set with its other attributes (each set costs the SDK a lock and a validation
    pass). For the event: kept with the span until its output is recorded (or it fails), then
    emitted once with everything (see ``emit_operation_details``).
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
        encoded = {attribute: to_json(value) for attribute, value in values.items()}
        if span_attributes is None:
            set_attributes(span, encoded)
        else:
            span_attributes.update(encoded)
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
        report_failure(fn)
        return default


def report_failure(step: Callable[..., Any]) -> None:
    """Log the exception being handled, raised by an instrumentation ``step`` (in an ``except``).

    The first failure of each step is a warning with a traceback; repeats would flood the logs.
    """
    name = getattr(step, "__qualname__", repr(step))
    if name in _failed_steps:
        logger.debug("trajotel: instrumentation step %s failed", name, exc_info=True)
    else:
        _failed_steps.add(name)
        logger.warning("trajotel: instrumentation step %s failed", name, exc_info=True)


_failed_steps: set[str] = set()


# --- generic readers -----------------------------------------------------------------------


def is_given(value: Any) -> bool:
    """False for None and the SDKs' "not given" sentinels (Stainless ``NotGiven`` / ``Omit``)."""
    return value is not None and type(value).__name__ not in _SENTINEL_NAMES


_SENTINEL_NAMES = ("NotGiven", "Omit")


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a mapping or an object; absent, None and sentinels give ``default``.

    This runs dozens of times per instrumented call, so the common shapes come first: plain
    dicts (request messages), then pydantic models (every SDK response object).
    """
    if obj is None:
        return default
    cls = type(obj)
    if cls is dict or (_view_kinds.get(cls) or _view_kind(cls)) == "mapping":
        value = obj.get(name)
    else:
        # Pydantic models keep fields in ``__dict__`` and unknown server fields in
        # ``__pydantic_extra__``. ``getattr`` of an absent name would go through pydantic's
        # ``__getattr__``, which raises and catches an AttributeError each time.
        fields = getattr(obj, "__dict__", None)
        if fields is not None and name in fields:
            value = fields[name]
        else:
            extra = getattr(obj, "__pydantic_extra__", None)
            if extra is not None and name in extra:
                value = extra[name]
            elif extra is not None and not _class_has(cls, name):
                value = None  # a pydantic model without that field, property or method
            else:
                value = getattr(obj, name, None)
    if value is None or type(value).__name__ in _SENTINEL_NAMES:
        return default
    return value


@functools.lru_cache(maxsize=4096)
def _class_has(cls: type, name: str) -> bool:
    # Cached: on a pydantic class, ``hasattr`` of an absent name raises inside the metaclass.
    return hasattr(cls, name)


def _items(value: Any) -> list[Any]:
    """The items of a list-like value, to read (a lone string or mapping counts as one item).

    A list comes back as it is, not copied: callers only iterate.
    """
    if type(value) is list:
        return value
    if value is None or not is_given(value) or isinstance(value, Iterator):
        # A one-shot iterator would be consumed here and arrive empty at the SDK: leave it alone.
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


def fields_of(obj: Any) -> Mapping[str, Any]:
    """Read access to an SDK value's fields as a mapping, for converters that read many of them.

    Dicts come as they are, pydantic models as their fields plus extras, anything else behind a
    mapping that reads through ``field``. One view and plain ``get`` calls cost a fraction of a
    ``field`` call per name, which matters on hot paths (messages, stream chunks). Unlike
    ``field``, a view does not hide the SDKs' "not given" sentinels: read request kwargs with
    ``field``.
    """
    if obj is None:
        return _NO_FIELDS
    cls = type(obj)
    if cls is dict:
        return obj
    kind = _view_kinds.get(cls) or _view_kind(cls)
    if kind == "pydantic":
        extra = obj.__pydantic_extra__
        return {**obj.__dict__, **extra} if extra else obj.__dict__
    if kind == "mapping":
        return obj
    return _FieldView(obj)


# How ``fields_of`` reads each type it has seen (a type check per call would cost more).
_view_kinds: dict[type, str] = {}


def _view_kind(cls: type) -> str:
    if issubclass(cls, Mapping):
        kind = "mapping"
    elif hasattr(cls, "__pydantic_validator__") and hasattr(cls, "__pydantic_extra__"):
        # Pydantic 2 models keep their fields in ``__dict__`` (extras apart); their properties
        # are nothing the converters read. Pydantic 1 models have no ``__pydantic_validator__``.
        kind = "pydantic"
    else:
        kind = "other"
    if len(_view_kinds) >= 4096:  # classes made on the fly must not grow it forever
        _view_kinds.clear()
    _view_kinds[cls] = kind
    return kind


class _FieldView(Mapping[str, Any]):
    """Any other object read as a mapping of its attributes (``get`` only, through ``field``)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, key: str, default: Any = None) -> Any:
        return field(self._obj, key, default)

    def __getitem__(self, key: str) -> Any:
        value = field(self._obj, key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(())  # attribute names are not enumerable in general

    def __len__(self) -> int:
        return 0


def to_json(value: Any) -> str:
    """Compact JSON, as the GenAI content attributes carry it."""
    if type(value) is _Converted:  # a cached conversion: encoded once
        return _kept_json(value)
    if type(value) is _MessageList:  # compact JSON of a list: its items' JSON joined by ","
        return "[" + ",".join(map(_message_json, value)) + "]"
    return _ENCODER.encode(value)


def _message_json(message: Any) -> str:
    return _kept_json(message) if type(message) is _ConvertedMessage else _ENCODER.encode(message)


def _kept_json(value: _Converted | _ConvertedMessage) -> str:
    """A cached conversion's JSON, encoded on first use and kept with it."""
    encoded = value.json
    if encoded is None:
        encoded = value.json = _ENCODER.encode(value)
    return encoded


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


# One encoder for every call: ``json.dumps`` with options builds a new one each time.
# No circular-reference check: the values are parts trajotel builds, and a cycle in a caller's
# tool schema still fails (RecursionError), which the caller of to_json handles as any error.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_json_default, check_circular=False
)


_REREADABLE_TYPES = frozenset((list, tuple, dict, str, bytes))


def is_one_shot(value: Any) -> bool:
    if type(value) in _REREADABLE_TYPES:  # the usual: skips two ABC checks (per call, per name)
        return False
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


def valid_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes that hold a valid OpenTelemetry value; None and anything else dropped."""
    valid: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, (str, bool, int, float)):
            valid[key] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            valid[key] = list(value)
    return valid


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    """Set the attributes that hold a valid OpenTelemetry value; drop None and anything else."""
    valid = valid_attributes(attributes)
    if valid:
        span.set_attributes(valid)


def start_client_span(
    tracer: trace.Tracer, name: str, attributes: Mapping[str, Any], capture: ContentCapture
) -> tuple[Span, ContentCapture]:
    """Start a model call's CLIENT span, and say what content the call records.

    The request attributes are given at the start, so a sampler sees them. A span that is not
    recorded (sampled out) gets no content built for it, unless the content goes to an event.
    """
    span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=valid_attributes(attributes))
    if capture.wanted and not capture.on_event and not span.is_recording():
        capture = ContentCapture.NO_CONTENT
    return span, capture


def span_name(operation: str, model: Any) -> str:
    return f"{operation} {model}" if isinstance(model, str) and model else operation


def cached_by_identity(fn: Callable[[Any], T]) -> Callable[[Any], T]:
    """Memoize a one-argument function by its argument's identity (a client's base URL object).

    Per-call work that depends only on the client (provider, server address) is done once per
    client instead of on every call. The argument is kept alive while cached, so its ``id`` is
    not reused; at most 256 entries, then the cache starts over. Results are shared: read only.
    """
    cache: dict[int, tuple[Any, T]] = {}

    @functools.wraps(fn)
    def cached(arg: Any) -> T:
        hit = cache.get(id(arg))
        if hit is not None and hit[0] is arg:
            return hit[1]
        result = fn(arg)
        if len(cache) >= 256:
            cache.clear()
        cache[id(arg)] = (arg, result)
        return result

    return cached


def server_attributes(base_url: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` from a client's base URL (str or URL object)."""
    if base_url is None:
        return {}
    parts = urlsplit(str(base_url))
    if not parts.hostname:
        return {}
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return {sc.SERVER_ADDRESS: parts.hostname, sc.SERVER_PORT: port}


# For a client's base URL, the same object on every call: computed once (read only).
client_server_attributes = cached_by_identity(server_attributes)


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
    call = fields_of(call)
    function = call.get("function")
    spec = fields_of(function if function is not None else call.get("custom"))
    arguments = spec.get("arguments") if function is not None else spec.get("input")
    return {
        "type": sc.PART_TOOL_CALL,
        "id": call.get("id"),
        "name": spec.get("name"),
        "arguments": parse_arguments(arguments),
    }


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(field(item, "text", "")) for item in _items(content))


def _assistant_parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parts of a message (read through ``fields_of``): reasoning, content, tool calls."""
    parts: list[dict[str, Any]] = []
    # OpenAI-compatible servers disagree on the name (vLLM/DeepSeek vs OpenRouter).
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:  # first: it happened before the answer
        parts.append({"type": sc.PART_REASONING, "content": reasoning})
    content = message.get("content")
    if isinstance(content, str):
        if content:
            parts.append(_text_part(content))
    elif content is not None:
        parts.extend(content_parts(content))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append(_text_part(refusal))
    tool_calls = message.get("tool_calls")
    if tool_calls:
        parts.extend(tool_call_part(call) for call in _items(tool_calls))
    function_call = message.get("function_call")  # pre-tools API, still accepted
    if function_call is not None:
        parts.append(tool_call_part({"function": function_call}))
    return parts


def input_message(message: Any) -> dict[str, Any]:
    """One OpenAI chat message as a GenAI input message (system/developer keep their role)."""
    message = fields_of(message)
    role = message.get("role")
    if role in ("tool", "function"):
        response = {
            "type": sc.PART_TOOL_CALL_RESPONSE,
            "id": message.get("tool_call_id"),
            "response": _text_of(message.get("content")),
        }
        result: dict[str, Any] = {"role": "tool", "parts": [response]}
    else:
        result = {"role": role, "parts": _assistant_parts(message)}
    name = message.get("name")
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


def _sorted_choices(choices: Any) -> list[Mapping[str, Any]]:
    """The choices, read through ``fields_of``, in index order (usually one: no sort needed)."""
    views = [fields_of(choice) for choice in _items(choices)]
    if len(views) < 2:
        return views

    def index(choice: Mapping[str, Any]) -> int:
        value = choice.get("index", 0)
        return value if isinstance(value, int) else 0

    return sorted(views, key=index)


def finish_reasons(choices: Any) -> list[str]:
    """Raw finish reasons, one per choice (a missing one is reported as "error")."""
    return [choice.get("finish_reason") or "error" for choice in _sorted_choices(choices)]


def output_messages(choices: Any) -> list[dict[str, Any]]:
    """One GenAI output message per choice."""
    return [
        {
            "role": "assistant",
            "parts": _assistant_parts(fields_of(choice.get("message"))),
            "finish_reason": map_finish_reason(choice.get("finish_reason")),
        }
        for choice in _sorted_choices(choices)
    ]


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Request tools as GenAI tool definitions: {type, name, description?, parameters?}."""
    definitions = []
    for tool in _items(tools):
        tool = fields_of(tool)
        kind = tool.get("type") or "function"
        spec = fields_of(tool.get(kind) or tool.get("function"))
        definition: dict[str, Any] = {"type": kind, "name": spec.get("name")}
        for key in ("description", "parameters"):
            value = spec.get(key)
            if value is not None:
                definition[key] = value
        definitions.append(definition)
    return definitions


class _Converted(list[Any]):
    """A cached conversion result (a list), which also keeps its JSON once encoded."""

    __slots__ = ("json",)

    def __init__(self, items: Iterable[Any]) -> None:
        super().__init__(items)
        self.json: str | None = None


class ConversionCache:
    """Reuses a conversion of a caller's object for as long as the object is unchanged.

    Agents resend the same objects on every call: the tool list, and the messages of the
    conversation so far (the list grows, its messages stay). The first time an object is seen
    it is converted and only remembered (kept alive, so its ``id`` stays its own); from its
    second call on, the conversion is cached with a deep copy of the object taken then, and
    reused while the object still equals that copy (``==``: a C-level comparison that stops
    at once on identical strings, which the copy shares). An object changed in place, at any
    depth, no longer equals its copy and is converted again. Equality is ``==``'s: a value
    replaced by an equal one of another type (``1`` by ``1.0``) keeps the old result.

    Objects that cannot be copied or compared are converted on every call. At most
    ``max_entries`` objects are held, then the cache starts over. Results are shared: read only.
    """

    def __init__(self, convert: Callable[[Any], Any], max_entries: int = 256) -> None:
        self._convert = convert
        self._max_entries = max_entries
        # id(obj) -> (obj, deep copy or _UNSEEN, result)
        self._entries: dict[int, tuple[Any, Any, Any]] = {}

    def __call__(self, obj: Any) -> Any:
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is obj:
            snapshot = entry[1]
            if snapshot is not _UNSEEN:
                try:
                    if (snapshot == obj) is True:
                        return entry[2]
                except Exception:
                    pass
            result = self._convert(obj)
            try:
                snapshot = copy.deepcopy(obj)
            except Exception:
                self._entries.pop(key, None)
                return result
            self._entries[key] = (obj, snapshot, result)
            return result
        result = self._convert(obj)
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = (obj, _UNSEEN, None)
        return result

    def clear(self) -> None:
        self._entries.clear()


_UNSEEN = object()


class _ConvertedMessage(dict[str, Any]):
    """A cached message conversion (a dict), which also keeps its JSON once encoded."""

    __slots__ = ("json",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        super().__init__(items)
        self.json: str | None = None


class _MessageList(list[Any]):
    """A new list of (partly cached) converted messages: ``to_json`` reuses their JSON."""

    __slots__ = ()


def _converted_input_message(message: Any) -> _ConvertedMessage:
    return _ConvertedMessage(input_message(message))


def _converted_tool_definitions(tools: Any) -> _Converted:
    return _Converted(tool_definitions(tools))


# For the instrumentors' hot path only (results shared, read only): ``input_messages`` and
# ``tool_definitions`` above build new values on every call. What they keep alive is bounded:
# at most MESSAGE_CACHE_ENTRIES messages whose content is at most MAX_CACHED_CONTENT_CHARS
# characters (with their conversion and its JSON, ~3 times that: under 25 MiB), and
# TOOLS_CACHE_ENTRIES tool lists. Larger messages gain little (their conversion is a small part
# of what recording them costs) and are converted on every call.
MESSAGE_CACHE_ENTRIES = 256
MAX_CACHED_CONTENT_CHARS = 32_768
TOOLS_CACHE_ENTRIES = 64
_message_cache = ConversionCache(_converted_input_message, max_entries=MESSAGE_CACHE_ENTRIES)
_tools_cache = ConversionCache(_converted_tool_definitions, max_entries=TOOLS_CACHE_ENTRIES)


def _cacheable(message: Any) -> bool:
    """A plain dict message with short text content: a list content (images, audio, files:
    base64 data) or a long text is never kept alive by the cache."""
    if type(message) is not dict:
        return False
    content = message.get("content")
    return content is None or (type(content) is str and len(content) <= MAX_CACHED_CONTENT_CHARS)


def cached_input_messages(messages: Any) -> list[dict[str, Any]]:
    """``input_messages`` with each message's conversion reused while the message is unchanged
    (``ConversionCache``): plain dict messages with short text content (``_cacheable``). The
    list is new; the messages in it are shared: read only.
    """
    if type(messages) is not list:
        return input_messages(messages)
    cached = _message_cache
    return _MessageList(
        cached(message) if _cacheable(message) else input_message(message) for message in messages
    )


def cached_tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """``tool_definitions`` of a tool list, reused (with its JSON) while the list is unchanged.
    Shared: read only.
    """
    if type(tools) is not list:
        return tool_definitions(tools)
    result: list[dict[str, Any]] = _tools_cache(tools)
    return result


# --- usage and errors ----------------------------------------------------------------------


def usage_attributes(usage: Any) -> dict[str, int]:
    """Token usage attributes from an OpenAI-style usage object (chat or responses names)."""
    usage = fields_of(usage)
    prompt_details = fields_of(usage.get("prompt_tokens_details") or usage.get("input_tokens_details"))
    completion_details = fields_of(
        usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    )
    input_tokens = usage.get("prompt_tokens")
    output_tokens = usage.get("completion_tokens")
    values = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: usage.get("input_tokens") if input_tokens is None else input_tokens,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: usage.get("output_tokens") if output_tokens is None else output_tokens,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: prompt_details.get("cached_tokens"),
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: completion_details.get("reasoning_tokens"),
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
