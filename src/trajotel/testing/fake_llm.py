"""A scripted fake OpenAI-compatible server (standard library only).

It also speaks the Anthropic Messages API at ``POST /v1/messages`` (JSON or ``stream: true`` SSE;
``anthropic.Anthropic(base_url="http://HOST:PORT")``), driven by the same scenarios: tool ids are
``toolu_fk{step}x{n}_{random}`` and step selection works the same way; its usage splits the
prompt into ``input_tokens`` + ``cache_read_input_tokens`` + ``cache_creation_input_tokens``.

    with FakeLLMServer() as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="test")

    python -m trajotel.testing.fake_llm --port 0

A scenario is a list of steps, chosen by the request's model name (unknown names get
"default"). The server is stateless: it mints tool-call ids ``call_fk{step}x{n}_{random}`` and
picks the step of a request as one past the highest step whose ids the request already carries,
so any number of agents can share one server.

Token usage is deterministic: ``prompt_tokens = 1 + len(compact JSON of messages) // 4``,
``completion_tokens = 1 + len(answer text + tool arguments) // 4``, cached tokens are half the
prompt after the first step, reasoning tokens half the completion.

Per-token output is deterministic too. With ``logprobs: true`` each choice carries
``logprobs.content``: one entry per whitespace-separated piece of the answer text (or of the tool
arguments when there is no text), logprob ``-(i % 10 + 1) / 100`` for the i-th. With
``return_token_ids: true`` (vLLM's extra field) the response carries ``prompt_token_ids``
(``1000 + i``, as many as ``prompt_tokens``) and each choice ``token_ids`` (``2000 + i``, as many
as ``completion_tokens``). Streams carry them in chunks: a logprobs entry on each content
chunk, ``prompt_token_ids`` on the first chunk, the choice's ``token_ids`` on its last chunk.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

__all__ = ["DEFAULT_SCENARIOS", "FakeLLMServer", "Step", "main"]

_TOOL_CALL_ID = re.compile(r"call_fk(\d+)x\d+_[0-9a-f]+")


@dataclass(frozen=True)
class Step:
    """One scripted model turn: a text answer, tool calls, or an HTTP error."""

    content: str | None = None
    tool_calls: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    reasoning: str | None = None  # sent as message.reasoning_content, as vLLM/DeepSeek do
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    status: int = 200
    error: str = "The fake LLM was scripted to fail."

    @classmethod
    def text(cls, content: str) -> Step:
        return cls(content=content)

    @classmethod
    def tool(cls, name: str, arguments: Mapping[str, Any]) -> Step:
        return cls(tool_calls=((name, arguments),))

    @classmethod
    def fail(cls, status: int = 500, message: str = "The fake LLM was scripted to fail.") -> Step:
        return cls(status=status, error=message)


DEFAULT_SCENARIOS: dict[str, list[Step]] = {
    "default": [
        Step.tool("get_weather", {"city": "Paris"}),
        Step.tool("add", {"a": 21, "b": 21}),
        Step.text("It is sunny and 22 C in Paris, and 21 + 21 = 42."),
    ],
    "fake-error": [Step.fail(500)],
    "fake-chat": [Step.text("Hello! I am a fake LLM.")],
}


def step_index(body: str) -> int:
    """The step of a request: one past the highest step whose minted ids it already carries."""
    steps = [int(m.group(1)) for m in _TOOL_CALL_ID.finditer(body)]
    return max(steps) + 1 if steps else 0


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _message(step: Step, index: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content, "refusal": None}
    if step.reasoning is not None:
        message["reasoning_content"] = step.reasoning
    if step.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_fk{index}x{n}_{secrets.token_hex(4)}",
                "type": "function",
                "function": {"name": name, "arguments": _compact(arguments)},
            }
            for n, (name, arguments) in enumerate(step.tool_calls)
        ]
    return message


def _usage(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    prompt = 1 + len(_compact(request.get("messages", []))) // 4
    produced = (step.content or "") + "".join(_compact(arguments) for _, arguments in step.tool_calls)
    completion = 1 + len(produced) // 4
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": prompt // 2 if index else 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": completion // 2, "audio_tokens": 0},
    }


def _logprobs(step: Step) -> dict[str, Any]:
    text = step.content or "".join(_compact(arguments) for _, arguments in step.tool_calls)
    tokens = re.findall(r"\S+\s*|\s+", text)
    content = [
        {"token": token, "logprob": -(i % 10 + 1) / 100, "bytes": list(token.encode()), "top_logprobs": []}
        for i, token in enumerate(tokens)
    ]
    return {"content": content, "refusal": None}


def completion(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """A non-streaming ChatCompletion body for ``step`` (``n`` choices if requested)."""
    n = request.get("n") if isinstance(request.get("n"), int) and request.get("n", 0) > 0 else 1
    finish = step.finish_reason or ("tool_calls" if step.tool_calls else "stop")
    usage = _usage(request, step, index)
    token_ids = request.get("return_token_ids") is True
    choices = []
    for i in range(n):
        choice = {
            "index": i,
            "message": _message(step, index),
            "logprobs": _logprobs(step) if request.get("logprobs") is True else None,
            "finish_reason": finish,
        }
        if token_ids:
            choice["token_ids"] = [2000 + t for t in range(usage["completion_tokens"])]
        choices.append(choice)
    body: dict[str, Any] = {
        "id": f"chatcmpl-fk{secrets.token_hex(8)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model"),
        "choices": choices,
        "usage": usage,
        "system_fingerprint": "fp_fakellm",
        "service_tier": "default",
    }
    if token_ids:
        body["prompt_token_ids"] = [1000 + t for t in range(usage["prompt_tokens"])]
    return body


def chunks(request: Mapping[str, Any], body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE chunks that stream ``body``: role, content pieces, tool-call deltas, finish."""
    base = {k: body[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")}
    base["object"] = "chat.completion.chunk"
    with_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    out = []

    def emit(
        index: int, delta: dict[str, Any], finish: str | None = None, top: Any = None, **extra: Any
    ) -> None:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}
        out.append({**base, **(top or {}), "choices": [choice], **({"usage": None} if with_usage else {})})

    # vLLM sends the prompt's token ids once, in the first chunk.
    first_top = {"prompt_token_ids": body["prompt_token_ids"]} if "prompt_token_ids" in body else None
    for choice in body["choices"]:
        index, message = choice["index"], choice["message"]
        emit(index, {"role": "assistant", "content": "", "refusal": None}, top=None if out else first_top)
        if message.get("reasoning_content"):
            emit(index, {"reasoning_content": message["reasoning_content"]})
        # With logprobs, each content piece carries its own entry (same split as _logprobs).
        entries = (choice.get("logprobs") or {}).get("content") or []
        pieces = re.findall(r"\S+\s*|\s+", message.get("content") or "")
        for n, piece in enumerate(pieces):
            if n < len(entries) and message.get("content"):
                emit(index, {"content": piece}, logprobs={"content": [entries[n]], "refusal": None})
            else:
                emit(index, {"content": piece})
        for n, call in enumerate(message.get("tool_calls", [])):
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            first = {
                "index": n,
                "id": call["id"],
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            emit(index, {"tool_calls": [first]})
            for piece in (arguments[i : i + 8] for i in range(0, len(arguments), 8)):
                emit(index, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
        # Token ids all arrive with the last chunk of the choice (enough for a fake).
        ids = {"token_ids": choice["token_ids"]} if "token_ids" in choice else {}
        emit(index, {}, choice["finish_reason"], **ids)
    if with_usage:
        out.append({**base, "choices": [], "usage": body["usage"]})
    return out


# --- Anthropic Messages API ----------------------------------------------------------------

_TOOL_USE_ID = re.compile(r"toolu_fk(\d+)x\d+_[0-9a-f]+")

# Scenario finish reasons are OpenAI's; the Messages API names them differently.
_ANTHROPIC_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def anthropic_step_index(body: str) -> int:
    """The step of a Messages request: as ``step_index``, from the minted ``toolu_fk`` ids."""
    steps = [int(m.group(1)) for m in _TOOL_USE_ID.finditer(body)]
    return max(steps) + 1 if steps else 0


def _anthropic_usage(request: Mapping[str, Any], step: Step, index: int) -> dict[str, int]:
    """Deterministic usage whose three input counts sum to the prompt size.

    ``prompt = 1 + len(compact JSON of system + messages) // 4``; a quarter of it is written to
    the cache, and after the first step half of it is read from the cache.
    """
    prompt = 1 + len(_compact([request.get("system"), request.get("messages", [])])) // 4
    produced = (step.content or "") + "".join(_compact(arguments) for _, arguments in step.tool_calls)
    cache_read = prompt // 2 if index else 0
    cache_write = prompt // 4
    return {
        "input_tokens": prompt - cache_read - cache_write,
        "output_tokens": 1 + len(produced) // 4,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }


def anthropic_message(request: Mapping[str, Any], step: Step, index: int) -> dict[str, Any]:
    """A non-streaming Anthropic ``Message`` body for ``step``."""
    content: list[dict[str, Any]] = []
    if step.reasoning is not None:
        content.append({"type": "thinking", "thinking": step.reasoning, "signature": "fk-signature"})
    if step.content:
        content.append({"type": "text", "text": step.content})
    for n, (name, arguments) in enumerate(step.tool_calls):
        tool_id = f"toolu_fk{index}x{n}_{secrets.token_hex(4)}"
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": dict(arguments)})
    default = "tool_calls" if step.tool_calls else "stop"
    reason = step.finish_reason or default
    return {
        "id": f"msg_fk{secrets.token_hex(8)}",
        "type": "message",
        "role": "assistant",
        "model": request.get("model"),
        "content": content,
        "stop_reason": _ANTHROPIC_STOP_REASONS.get(reason, reason),
        "stop_sequence": None,
        "usage": _anthropic_usage(request, step, index),
    }


def anthropic_events(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE events that stream ``body``, in the order the Messages API sends them."""
    usage = dict(body["usage"])
    start_usage = {**usage, "output_tokens": 1}  # the real API reports a placeholder here
    message = {**body, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for i, block in enumerate(body["content"]):
        kind = block["type"]
        if kind == "text":
            pieces = re.findall(r"\S+\s*|\s+", block["text"])
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            arguments = _compact(block["input"])
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": arguments[j : j + 8]}
                for j in range(0, len(arguments), 8)
            ]
        events.append({"type": "content_block_start", "index": i, "content_block": start})
        events.extend({"type": "content_block_delta", "index": i, "delta": delta} for delta in deltas)
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real API servers do
    timeout = 60  # an idle keep-alive connection must not pin a thread forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def do_GET(self) -> None:
        self.server.owner._record(self, None)
        if self.path.rstrip("/") in ("/healthz", "/v1/healthz"):
            self._json(200, {"status": "ok"})
        elif self.path.rstrip("/") == "/v1/models":
            names = sorted(self.server.owner.scenarios)
            models = [{"id": name, "object": "model", "created": 0, "owned_by": "trajotel"} for name in names]
            self._json(200, {"object": "list", "data": models})
        else:
            self._error(404, f"no route for GET {self.path}", "not_found")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        self.server.owner._record(self, request)
        if self.path.split("?", 1)[0].rstrip("/") == "/v1/messages":
            self._anthropic_messages(request, raw)
        elif self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route for POST {self.path}", "not_found")
        elif not isinstance(request, dict):
            self._error(400, "request body is not a JSON object", "invalid_request_error")
        else:
            self._chat(request, raw)

    def _chat(self, request: dict[str, Any], raw: str) -> None:
        scenarios = self.server.owner.scenarios
        steps = scenarios.get(str(request.get("model")), scenarios["default"])
        index = min(step_index(raw), len(steps) - 1)
        step = steps[index]
        if step.status != 200:
            kind = "server_error" if step.status >= 500 else "invalid_request_error"
            self._error(step.status, step.error, kind)
            return
        body = completion(request, step, index)
        if request.get("stream"):
            self._stream(chunks(request, body))
        else:
            self._json(200, body)

    def _anthropic_messages(self, request: Any, raw: str) -> None:
        """``POST /v1/messages``: the Anthropic Messages API, driven by the same scenarios."""
        if not isinstance(request, dict):
            self._anthropic_error(400, "request body is not a JSON object", "invalid_request_error")
            return
        scenarios = self.server.owner.scenarios
        steps = scenarios.get(str(request.get("model")), scenarios["default"])
        index = min(anthropic_step_index(raw), len(steps) - 1)
        step = steps[index]
        if step.status != 200:
            kind = "api_error" if step.status >= 500 else "invalid_request_error"
            self._anthropic_error(step.status, step.error, kind)
            return
        body = anthropic_message(request, step, index)
        if request.get("stream"):
            self._anthropic_stream(anthropic_events(body))
        else:
            self._json(200, body, {"request-id": f"req_fk{secrets.token_hex(6)}"})

    def _anthropic_error(self, status: int, message: str, kind: str) -> None:
        payload = {"type": "error", "error": {"type": kind, "message": message}}
        # As for chat completions: no SDK retries of a scripted failure.
        self._json(status, payload, {"x-should-retry": "false"})

    def _anthropic_stream(self, events: Sequence[dict[str, Any]]) -> None:
        # Anthropic's SSE names every event (``event: <type>``) and has no ``[DONE]`` sentinel.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            data = f"event: {event['type']}\ndata: {_compact(event)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = _compact(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fk{secrets.token_hex(6)}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        error = {"message": message, "type": kind, "param": None, "code": "fake_llm_error"}
        # The SDK retries 5xx with back-off; a scripted failure should surface at once.
        self._json(status, {"error": error}, {"x-should-retry": "false"})

    def _stream(self, events: Sequence[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in [*map(_compact, events), "[DONE]"]:
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-connection all the time (keep-alive, abandoned streams): not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class FakeLLMServer:
    """The fake server; ``start()`` binds (port 0 = a free port) and serves on a thread."""

    scenarios: Mapping[str, Sequence[Step]] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    _requests: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.scenarios = {**DEFAULT_SCENARIOS, **(self.scenarios or {})}

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Received requests so far: ``{"method", "path", "headers", "body"}`` (body: parsed JSON)."""
        with self._lock:
            return list(self._requests)

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        entry = {
            "method": handler.command,
            "path": handler.path,
            "headers": dict(handler.headers),
            "body": body,
        }
        with self._lock:
            self._requests.append(entry)

    def start(self) -> FakeLLMServer:
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trajotel.testing.fake_llm", description="Fake OpenAI server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with FakeLLMServer(host=args.host, port=args.port) as server:
        # Whoever started us waits for this line to learn the port.
        print(f"fake-llm listening on http://{server.host}:{server.port}", flush=True)
        while not stopped.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
