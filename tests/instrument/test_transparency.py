"""Instrumented SDKs behave exactly as uninstrumented ones.

Every entry of ``CASES`` is one SDK call against the FakeLLMServer, made once without trajotel
and once with its instrumentor, by the real SDKs. What the caller can see is reduced to an
"observation" (classes, public attributes, model dumps with random ids masked, stream chunks in
order, what ``close()`` and context managers do, exceptions with type, message, status and body)
and the two observations must be equal. Each instrumented run must also have produced a span, so
a case that silently stopped being instrumented fails too.

The second half injects failures at the OpenTelemetry boundary (span processors, the tracer, the
exporter, the redaction hook) and checks that none of them reaches the agent.

A new entry point is one line in ``CASES``: a call taking a client; ``observe`` handles any
result the SDKs return (models, streams, raw and streaming responses, stream managers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from anthropic import _response as anthropic_response
from anthropic.lib.streaming import (
    AsyncMessageStream,
    AsyncMessageStreamManager,
    MessageStream,
    MessageStreamManager,
)
from openai import _response as openai_response
from openai._legacy_response import LegacyAPIResponse
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from trajotel import semconv as sc
from trajotel.instrument.anthropic import AnthropicInstrumentor
from trajotel.instrument.openai import OpenAIInstrumentor
from trajotel.testing import FakeLLMServer

HELLO = [{"role": "user", "content": "hi"}]
CHAT = {"model": "fake-chat", "messages": HELLO}
CHAT_TOOLS = {
    "model": "default",
    "messages": HELLO,
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
        }
    ],
}
CHAT_ERROR = {"model": "fake-error", "messages": HELLO}
MESSAGES = {"model": "fake-chat", "max_tokens": 64, "messages": HELLO}
MESSAGES_TOOLS = {
    "model": "default",
    "max_tokens": 64,
    "messages": HELLO,
    "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
}
MESSAGES_ERROR = {"model": "fake-error", "max_tokens": 64, "messages": HELLO}
STREAM = {"stream": True}
WITH_USAGE = {"stream_options": {"include_usage": True}}

# Random parts of what the fake server mints (ids, request ids) and wall-clock fields.
_RANDOM = re.compile(r"(fk[0-9x_]*?_?)[0-9a-f]{8,}")
_CLOCK = re.compile(r'"(created|created_at)": \d+')


# --- observing what the caller sees ----------------------------------------------------------


def _masked(value: Any) -> Any:
    text = json.dumps(value, sort_keys=True, default=repr)
    return json.loads(_CLOCK.sub(r'"\1": 0', _RANDOM.sub(r"\1<id>", text)))


def _public_attributes(obj: Any) -> list[str]:
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def _exception(exc: BaseException) -> dict[str, Any]:
    return {
        "raised": type(exc),
        "message": _masked(str(exc)),
        "status": getattr(exc, "status_code", None),
        "body": _masked(getattr(exc, "body", None)),
    }


# Protocols a caller (or a framework) may probe with hasattr / isinstance before using them.
_PROTOCOLS = ("__enter__", "__exit__", "__aenter__", "__aexit__", "__iter__", "__next__", "__aiter__")
_PROTOCOLS += ("__anext__", "__len__", "__call__", "__await__")


def _shape(obj: Any) -> dict[str, Any]:
    # ``__class__`` is what a proxy reports; ``type()`` would show the proxy class itself.
    return {"class": obj.__class__, "attributes": _public_attributes(obj)}


def _protocols(obj: Any) -> list[str]:
    return [name for name in _PROTOCOLS if hasattr(obj, name)]


_MODELS = pydantic.BaseModel
_STREAMS = (openai.Stream, anthropic.Stream, MessageStream)
_ASYNC_STREAMS = (openai.AsyncStream, anthropic.AsyncStream, AsyncMessageStream)
_RAW = (LegacyAPIResponse, openai_response.APIResponse, anthropic_response.APIResponse)
_ASYNC_RAW = (openai_response.AsyncAPIResponse, anthropic_response.AsyncAPIResponse)
_MANAGERS = (openai_response.ResponseContextManager, anthropic_response.ResponseContextManager)
_MANAGERS += (MessageStreamManager,)
_ASYNC_MANAGERS = (
    openai_response.AsyncResponseContextManager,
    anthropic_response.AsyncResponseContextManager,
)
_ASYNC_MANAGERS += (AsyncMessageStreamManager,)


def observe(result: Any) -> dict[str, Any]:
    """Everything a caller would read from a synchronous SDK result, reading it the usual way."""
    seen = _shape(result)
    if isinstance(result, _MODELS):
        seen["dump"] = _masked(result.model_dump(mode="json"))
    elif isinstance(result, _STREAMS):
        seen["chunks"] = [observe(chunk) for chunk in result]
        if isinstance(result, MessageStream):
            seen["final"] = observe(result.get_final_message())
        result.close()
        seen["closed"] = result.response.is_closed
    elif isinstance(result, _MANAGERS):
        with result as entered:
            seen["entered"] = observe(entered)
    elif isinstance(result, _RAW):
        seen["status"] = result.status_code
        seen["parsed"] = observe(result.parse())
    return seen


async def aobserve(result: Any) -> dict[str, Any]:
    """``observe`` for asynchronous SDK results."""
    if inspect.isawaitable(result):
        result = await result
    seen = _shape(result)
    if isinstance(result, _MODELS):
        seen["dump"] = _masked(result.model_dump(mode="json"))
    elif isinstance(result, _ASYNC_STREAMS):
        seen["chunks"] = [await aobserve(chunk) async for chunk in result]
        if isinstance(result, AsyncMessageStream):
            seen["final"] = await aobserve(result.get_final_message())
        await result.close()
        seen["closed"] = result.response.is_closed
    elif isinstance(result, _ASYNC_MANAGERS):
        async with result as entered:
            seen["entered"] = await aobserve(entered)
    elif isinstance(result, (*_RAW, *_ASYNC_RAW)):
        seen["status"] = result.status_code
        seen["parsed"] = await aobserve(result.parse())
    return seen


# --- ways of reading a stream other than "to the end" -------------------------------------------


def first_then_close(stream: Any) -> dict[str, Any]:
    """Read one chunk and close. (What reading on after close() gives depends, in the SDKs
    themselves, on how much of the body was buffered: not comparable.)"""
    seen = {**_shape(stream), "first": observe(next(iter(stream)))}
    stream.close()
    seen["closed"] = stream.response.is_closed
    return seen


def break_then_continue(stream: Any) -> dict[str, Any]:
    """Leave a ``for`` loop early, then read the rest with ``next()`` (generator semantics)."""
    for chunk in stream:
        first = observe(chunk)
        break
    rest = []
    while (chunk := next(stream, None)) is not None:
        rest.append(observe(chunk))
    stream.close()
    return {"first": first, "rest": rest}


def with_block(stream: Any) -> dict[str, Any]:
    """Use the stream as a context manager and leave it after one chunk."""
    with stream as entered:
        seen = {"entered": _shape(entered), "same": entered is stream, "first": observe(next(entered))}
    seen["closed"] = stream.response.is_closed
    return seen


class AgentError(Exception):
    """The agent's own exception."""


def raise_inside_with(stream: Any) -> dict[str, Any]:
    """An exception of the caller's own leaving the ``with`` block passes through unchanged."""

    def run() -> None:
        with stream as entered:
            next(entered)
            raise AgentError("the agent's own failure")

    return {"outcome": _attempt(run), "closed": stream.response.is_closed}


async def async_first_then_close(stream: Any) -> dict[str, Any]:
    stream = await stream
    seen = {**_shape(stream), "first": await aobserve(await stream.__anext__())}
    await stream.close()
    seen["closed"] = stream.response.is_closed
    return seen


async def async_with_block(stream: Any) -> dict[str, Any]:
    stream = await stream
    async with stream as entered:
        seen = {"entered": _shape(entered), "same": entered is stream}
        seen["first"] = await aobserve(await entered.__anext__())
    seen["closed"] = stream.response.is_closed
    return seen


def _attempt(fn: Callable[[], Any]) -> Any:
    try:
        return {"returned": fn()}
    except Exception as exc:
        return _exception(exc)


# --- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    sdk: str  # "openai" | "anthropic": which client the call gets, which instrumentor runs
    name: str
    call: Callable[[Any], Any]  # client -> what the SDK returns (a coroutine for async clients)
    is_async: bool = False
    read: Callable[[Any], Any] | None = None  # default: observe / aobserve

    def __str__(self) -> str:
        return f"{self.sdk}:{self.name}"


def chat(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.chat.completions.create(**kwargs)


def chat_raw(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.chat.completions.with_raw_response.create(**kwargs)


def chat_streaming(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.chat.completions.with_streaming_response.create(**kwargs)


def messages(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.messages.create(**kwargs)


def messages_raw(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.messages.with_raw_response.create(**kwargs)


def messages_stream(**kwargs: Any) -> Callable[[Any], Any]:
    return lambda client: client.messages.stream(**kwargs)


AIO = {"is_async": True}

CASES = [
    # openai chat completions
    Case("openai", "create", chat(**CHAT)),
    Case("openai", "create tools", chat(**CHAT_TOOLS)),
    Case("openai", "create stream", chat(**CHAT, **STREAM)),
    Case("openai", "create stream usage", chat(**CHAT_TOOLS, **STREAM, **WITH_USAGE)),
    Case("openai", "stream close early", chat(**CHAT, **STREAM), read=first_then_close),
    Case("openai", "stream break", chat(**CHAT, **STREAM), read=break_then_continue),
    Case("openai", "stream with", chat(**CHAT, **STREAM), read=with_block),
    Case("openai", "stream with raises", chat(**CHAT, **STREAM), read=raise_inside_with),
    Case("openai", "raw", chat_raw(**CHAT)),
    Case("openai", "raw stream", chat_raw(**CHAT, **STREAM)),
    Case("openai", "streaming response", chat_streaming(**CHAT)),
    Case("openai", "streaming response stream", chat_streaming(**CHAT, **STREAM)),
    Case("openai", "http error", chat(**CHAT_ERROR)),
    Case("openai", "http error stream", chat(**CHAT_ERROR, **STREAM)),
    Case("openai", "http error raw", chat_raw(**CHAT_ERROR)),
    Case("openai", "bad request", chat(model="fake-chat", messages="not a list")),
    Case("openai", "missing argument", chat(model="fake-chat")),
    Case("openai-offline", "connection error", chat(**CHAT)),
    Case("openai-offline", "connection error stream", chat(**CHAT, **STREAM)),
    # openai, async
    Case("openai", "async create", chat(**CHAT), **AIO),
    Case("openai", "async create stream", chat(**CHAT_TOOLS, **STREAM), **AIO),
    Case("openai", "async stream close early", chat(**CHAT, **STREAM), **AIO, read=async_first_then_close),
    Case("openai", "async stream with", chat(**CHAT, **STREAM), **AIO, read=async_with_block),
    Case("openai", "async raw", chat_raw(**CHAT), **AIO),
    Case("openai", "async streaming response", chat_streaming(**CHAT), **AIO),
    Case("openai", "async http error", chat(**CHAT_ERROR), **AIO),
    Case("openai-offline", "async connection error", chat(**CHAT), **AIO),
    # anthropic messages
    Case("anthropic", "create", messages(**MESSAGES)),
    Case("anthropic", "create tools", messages(**MESSAGES_TOOLS)),
    Case("anthropic", "create stream", messages(**MESSAGES_TOOLS, **STREAM)),
    Case("anthropic", "stream close early", messages(**MESSAGES, **STREAM), read=first_then_close),
    Case("anthropic", "stream with", messages(**MESSAGES, **STREAM), read=with_block),
    Case("anthropic", "stream with raises", messages(**MESSAGES, **STREAM), read=raise_inside_with),
    Case("anthropic", "stream helper", messages_stream(**MESSAGES_TOOLS)),
    Case("anthropic", "raw", messages_raw(**MESSAGES)),
    Case("anthropic", "http error", messages(**MESSAGES_ERROR)),
    Case("anthropic", "http error stream", messages(**MESSAGES_ERROR, **STREAM)),
    Case("anthropic", "http error stream helper", messages_stream(**MESSAGES_ERROR)),
    Case("anthropic-offline", "connection error", messages(**MESSAGES)),
    # anthropic, async
    Case("anthropic", "async create", messages(**MESSAGES), **AIO),
    Case("anthropic", "async create stream", messages(**MESSAGES_TOOLS, **STREAM), **AIO),
    Case("anthropic", "async stream with", messages(**MESSAGES, **STREAM), **AIO, read=async_with_block),
    Case("anthropic", "async stream helper", messages_stream(**MESSAGES_TOOLS), **AIO),
    Case("anthropic", "async http error", messages(**MESSAGES_ERROR), **AIO),
    Case("anthropic-offline", "async connection error", messages(**MESSAGES), **AIO),
]


# --- running a case ------------------------------------------------------------------------------

INSTRUMENTORS = {"openai": OpenAIInstrumentor, "anthropic": AnthropicInstrumentor}


def _client(case: Case, server: FakeLLMServer) -> Any:
    sdk, _, mode = case.sdk.partition("-")
    # "offline": port 1 (tcpmux), which nothing listens on here: the connection is refused.
    host = f"http://{server.host}:1" if mode == "offline" else f"http://{server.host}:{server.port}"
    if sdk == "openai":
        cls = openai.AsyncOpenAI if case.is_async else openai.OpenAI
        return cls(base_url=host + "/v1", api_key="test-key", max_retries=0)
    cls = anthropic.AsyncAnthropic if case.is_async else anthropic.Anthropic
    return cls(base_url=host, api_key="test-key", max_retries=0)


def run_case(case: Case, server: FakeLLMServer) -> Any:
    """The observation of one fresh client making the case's call (clients bind methods lazily)."""
    client = _client(case, server)
    if case.is_async:
        read = case.read or aobserve

        async def go() -> Any:
            try:
                return await read(case.call(client))
            except Exception as exc:
                return _exception(exc)
            finally:
                await client.close()

        return asyncio.run(go())
    read = case.read or observe
    try:
        return read(case.call(client))
    except Exception as exc:
        return _exception(exc)
    finally:
        client.close()


@contextmanager
def instrumented(case: Case, provider: trace.TracerProvider) -> Iterator[None]:
    instrumentor = INSTRUMENTORS[case.sdk.partition("-")[0]]()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


@pytest.fixture(autouse=True)
def default_content_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, raising=False)
    monkeypatch.delenv(sc.ENV_REDACT, raising=False)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_instrumented_call_behaves_as_uninstrumented(
    case: Case,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    plain = run_case(case, fake_llm)
    with instrumented(case, tracer_provider):
        traced = run_case(case, fake_llm)
    assert traced == plain
    spans = span_exporter.get_finished_spans()
    if case.name == "missing argument":
        # The SDK rejects the call before any request: there may be no span, but nothing else.
        assert all(s.name.startswith("chat") for s in spans)
        return
    assert [s.name.split(" ")[0] for s in spans] == ["chat"], [s.name for s in spans]


def test_the_table_notices_a_difference(fake_llm: FakeLLMServer) -> None:
    # The comparison itself must be able to fail: two different calls observe differently.
    create, stream = CASES[0], CASES[2]
    assert run_case(create, fake_llm) != run_case(stream, fake_llm)


def test_a_stream_is_proxied_yet_reports_the_sdk_class(
    fake_llm: FakeLLMServer, tracer_provider: TracerProvider
) -> None:
    case = Case("openai", "stream", lambda c: c.chat.completions.create(**CHAT, **STREAM))
    with instrumented(case, tracer_provider):
        client = _client(case, fake_llm)
        stream = case.call(client)
        assert type(stream) is not openai.Stream  # our proxy ...
        assert isinstance(stream, openai.Stream)  # ... that the caller cannot tell apart
        assert _public_attributes(stream) == _public_attributes(stream.__wrapped__)
        stream.close()
        client.close()


# --- failures inside the OpenTelemetry pipeline never reach the agent ---------------------------


class Fault(Exception):
    """Raised by the injected faults; the agent must never see it."""


class RaisingProcessor(SpanProcessor):
    def __init__(self, on: str) -> None:
        self.on = on
        self.fired = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.on == "start":
            self.fired += 1
            raise Fault("on_start")

    def on_end(self, span: ReadableSpan) -> None:
        if self.on == "end":
            self.fired += 1
            raise Fault("on_end")


class RaisingExporter(SpanExporter):
    fired = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.fired += 1
        raise Fault("export")


class RaisingTracer(trace.Tracer):
    fired = 0

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        RaisingTracer.fired += 1
        raise Fault("start_span")

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        RaisingTracer.fired += 1
        raise Fault("start_as_current_span")


class RaisingTracerProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RaisingTracer()


def _redaction_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Callable[[], int]:
    """TRAJOTEL_REDACT pointing at a hook that counts its calls, then runs ``body``."""
    # trajotel imports a hook once per configured path: a fresh module name per test.
    module = f"trajotel_test_redact_{uuid.uuid4().hex}"
    source = f"calls = 0\n\ndef redact(content):\n    global calls\n    calls += 1\n    {body}\n"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(sc.ENV_REDACT, f"{module}:redact")
    # Not imported at all: never called.
    return lambda: getattr(sys.modules.get(module), "calls", 0)


@pytest.fixture
def raising_redaction_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """A redaction hook that always raises; returns how often it ran."""
    return _redaction_hook(tmp_path, monkeypatch, 'raise RuntimeError("redaction hook failure")')


@pytest.fixture
def counting_redaction_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """A redaction hook that records everything; returns how often it ran (once per content)."""
    return _redaction_hook(tmp_path, monkeypatch, "return content")


def _fault_provider(
    fault: str, exporter: InMemorySpanExporter
) -> tuple[trace.TracerProvider, Callable[[], int]]:
    if fault == "tracer":
        RaisingTracer.fired = 0
        return RaisingTracerProvider(), lambda: RaisingTracer.fired
    provider = TracerProvider()
    if fault == "exporter":
        raising = RaisingExporter()
        provider.add_span_processor(SimpleSpanProcessor(raising))
        return provider, lambda: raising.fired
    processor = RaisingProcessor(fault)
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, lambda: processor.fired


# Every case starts a span (offline ones too): the faults sit in every case's path.
FAULT_CASES = CASES


@pytest.mark.parametrize("fault", ["start", "end", "tracer", "exporter"])
@pytest.mark.parametrize("case", FAULT_CASES, ids=str)
def test_a_failing_otel_pipeline_never_reaches_the_agent(
    case: Case, fault: str, fake_llm: FakeLLMServer, span_exporter: InMemorySpanExporter
) -> None:
    provider, fired = _fault_provider(fault, span_exporter)
    plain = run_case(case, fake_llm)
    with instrumented(case, provider):
        traced = run_case(case, fake_llm)
    assert traced == plain
    assert fired() >= 1  # the fault really was in the call's path


@pytest.mark.parametrize("case", FAULT_CASES, ids=str)
def test_a_raising_redaction_hook_never_reaches_the_agent(
    case: Case,
    fake_llm: FakeLLMServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    raising_redaction_hook: Callable[[], int],
) -> None:
    plain = run_case(case, fake_llm)
    with instrumented(case, tracer_provider):
        traced = run_case(case, fake_llm)
    assert traced == plain
    assert raising_redaction_hook() >= 1
    (span,) = span_exporter.get_finished_spans()
    assert sc.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})  # fails closed


class DroppingSampler(Sampler):
    """Samples every span out, keeping the attributes it was asked about."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any) -> Any:
        attributes = kwargs.get("attributes", args[1] if len(args) > 1 else None)
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "DroppingSampler"


@pytest.mark.parametrize("mode", ["SPAN_ONLY", "SPAN_AND_EVENT"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_sampled_out_call_builds_no_content_for_its_span(
    case: Case,
    mode: str,
    fake_llm: FakeLLMServer,
    counting_redaction_hook: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sampler sees the request attributes; content is built only when an event wants it."""
    monkeypatch.setenv(sc.ENV_CAPTURE_MESSAGE_CONTENT, mode)
    sampler = DroppingSampler()
    plain = run_case(case, fake_llm)
    with instrumented(case, TracerProvider(sampler=sampler)):
        traced = run_case(case, fake_llm)
    assert traced == plain
    assert sampler.seen, "no span was started"
    assert all(sc.GEN_AI_OPERATION_NAME in seen and sc.GEN_AI_PROVIDER_NAME in seen for seen in sampler.seen)
    assert (counting_redaction_hook() > 0) == (mode == "SPAN_AND_EVENT")


# --- the protocol surface of what is returned -----------------------------------------------------

# Results that trajotel hands back inside a wrapt.ObjectProxy. wrapt's proxy class defines
# __enter__/__exit__, __aenter__/__aexit__, __iter__ and __len__ whatever the wrapped object has,
# so ``hasattr(sync_stream, "__aenter__")`` (and isinstance checks against collections.abc) differ
# from the SDK's own object. Using such a protocol still fails as it would without trajotel (the
# wrapped object raises), but code that probes before using sees a difference. Known gap of
# trajotel.instrument.streams / openai.bodies: strict, so a fix shows up here as XPASS.
KNOWN_PROTOCOL_LEAKS = {
    "openai:create stream",
    "openai:create stream usage",
    "openai:raw stream",  # a LegacyAPIResponse has none of them; its proxy looks iterable
    "openai:async create stream",  # an AsyncStream proxy looks iterable (sync) too
    "anthropic:create stream",
    "anthropic:async create stream",
}


async def _aprotocols(result: Any) -> list[str]:
    if inspect.isawaitable(result):
        result = await result
    found = _protocols(result)
    await aobserve(result)  # read and close it as usual
    return found


def _sync_protocols(result: Any) -> list[str]:
    found = _protocols(result)
    observe(result)
    return found


def _protocol_param(case: Case) -> Any:
    probe = dataclasses.replace(case, read=_aprotocols if case.is_async else _sync_protocols)
    marks = []
    if str(case) in KNOWN_PROTOCOL_LEAKS:
        marks.append(pytest.mark.xfail(strict=True, reason="wrapt.ObjectProxy's fixed protocol surface"))
    return pytest.param(probe, id=str(case), marks=marks)


PROTOCOL_CASES = [_protocol_param(c) for c in CASES if c.read is None]


@pytest.mark.parametrize("case", PROTOCOL_CASES)
def test_results_expose_the_sdk_protocols(
    case: Case, fake_llm: FakeLLMServer, tracer_provider: TracerProvider
) -> None:
    plain = run_case(case, fake_llm)
    with instrumented(case, tracer_provider):
        traced = run_case(case, fake_llm)
    assert traced == plain
