"""A scripted fake OpenAI-compatible server (standard library only).

It also speaks the Anthropic Messages API at ``POST /v1/messages`` (JSON or ``stream: true`` SSE;
``anthropic.Anthropic(base_url="http://HOST:PORT")``), driven by the same scenarios: tool ids are
``toolu_fk{step}x{n}_{random}`` and step selection works the same way; its usage splits the
prompt into ``input_tokens`` + ``cache_read_input_tokens`` + ``cache_creation_input_tokens``.

OpenAI APIs besides chat completions, one module each (see their docstrings):
``POST /v1/responses`` (``responses``: a complete ``Response`` or the typed SSE events with
``sequence_number``; function calls carry ``call_id`` ``call_fk{step}x{n}_{random}``; a requested
``text.format`` is echoed and the step's text is the output, so structured-output scenarios
script their JSON as text), ``POST /v1/embeddings`` (``embeddings``: deterministic unit vectors,
8 dims or ``dimensions``, floats or little-endian float32 base64) and ``POST /v1/completions``
(``completions``: the legacy text API, JSON or SSE).

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

from trajotel.testing.fake_llm.scenario import DEFAULT_SCENARIOS, Step, step_index
from trajotel.testing.fake_llm.server import ROUTES, FakeLLMServer, main

__all__ = ["DEFAULT_SCENARIOS", "ROUTES", "FakeLLMServer", "Step", "main", "step_index"]
