"""The LLM APIs the catch-all recognizes in an HTTP request, and how each one fills its span.

An API is picked by the request's path (query string ignored, any prefix before it, so proxies
and ``/v1`` or ``/openai/deployments/X`` bases all match). The span has the shape the SDK
instrumentors give it: the JSON request body is read exactly as the SDK's keyword arguments
would be, by the same converters (the openai package's ``Api`` objects, the anthropic
instrumentor's span helpers).

``gen_ai.provider.name``: from the host where the openai instrumentor's table knows it, else
the API format's (``openai`` for every OpenAI-compatible server, ``anthropic``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from opentelemetry.trace import Span

from trajotel import semconv as sc
from trajotel.instrument import genai, streams
from trajotel.instrument.anthropic import content as anthropic_content
from trajotel.instrument.anthropic import wrappers as anthropic_spans
from trajotel.instrument.openai import chat, completions, embeddings, provider, responses
from trajotel.instrument.openai.wrappers import Api as OpenAIApi


class HttpApi(Protocol):
    """What the catch-all needs of one API format."""

    operation: str
    default_provider: str

    def request_attributes(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    def record_input(self, span: Span, body: Mapping[str, Any]) -> None: ...

    def record_response(self, span: Span, response: Any, capture: genai.ContentCapture) -> None: ...

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator | None: ...


class OpenAIFormat:
    """An endpoint of the OpenAI API, recorded by the openai instrumentor's ``Api`` object."""

    default_provider = provider.OPENAI

    def __init__(self, api: OpenAIApi) -> None:
        self._api = api
        self.operation = api.operation

    def request_attributes(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return self._api.request_attributes(body)

    def record_input(self, span: Span, body: Mapping[str, Any]) -> None:
        content = self._api.input_content(body)
        if content:
            genai.record_content(span, content)

    def record_response(self, span: Span, response: Any, capture: genai.ContentCapture) -> None:
        genai.safe_call(genai.set_attributes, span, self._api.response_attributes(response))
        if capture.wanted:
            content = genai.safe_call(self._api.output_content, response)
            if content:
                genai.safe_call(genai.record_content, span, content)
        genai.safe_call(self._api.record_extras, span, response, capture)

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator | None:
        return self._api.accumulator(on_finish, keep_content)


class AnthropicMessages:
    """The Anthropic Messages API, recorded by the anthropic instrumentor's span helpers."""

    operation = sc.OP_CHAT
    default_provider = anthropic_spans.PROVIDER_NAME

    def request_attributes(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        # No SDK resource (None): the server attributes come from the request URL instead.
        return anthropic_spans.request_attributes(None, body)

    def record_input(self, span: Span, body: Mapping[str, Any]) -> None:
        anthropic_spans.set_input_content(span, body)

    def record_response(self, span: Span, response: Any, capture: genai.ContentCapture) -> None:
        genai.safe_call(anthropic_spans.set_response_attributes, span, response)
        if capture.wanted and genai.field(response, "content"):
            genai.safe_call(anthropic_spans.set_output_content, span, response)

    def accumulator(
        self, on_finish: Callable[[Span, Any], None], keep_content: bool
    ) -> streams.ChunkAccumulator:
        return anthropic_content.MessageEventAccumulator(on_finish, keep_content)


# Path suffix -> API; the first match wins, so "/chat/completions" comes before "/completions".
ROUTES: tuple[tuple[str, HttpApi], ...] = (
    ("/chat/completions", OpenAIFormat(chat.API)),
    ("/completions", OpenAIFormat(completions.API)),
    ("/embeddings", OpenAIFormat(embeddings.API)),
    ("/responses", OpenAIFormat(responses.API)),
    ("/v1/messages", AnthropicMessages()),
)


def api_for(method: str, path: str) -> HttpApi | None:
    """The API a request calls, or None when it is no LLM call the catch-all knows."""
    if method.upper() != "POST":
        return None
    path = path.rstrip("/")
    return next((api for suffix, api in ROUTES if path.endswith(suffix)), None)


def provider_name(api: HttpApi, host: str | None) -> str:
    return provider.provider_from_host(host) or api.default_provider
