"""``POST /v1/embeddings``: deterministic unit vectors, as floats or base64.

Each input (a string, or a list of token ids) gets a unit vector derived from a SHA-256 of its
compact JSON: the same input always gets the same vector, different inputs different ones.
Vectors have 8 dimensions, or ``dimensions`` when the request sets it. ``encoding_format:
"base64"`` (what the openai SDK asks for unless told otherwise) returns little-endian float32
bytes in base64; anything else returns a list of floats.

Usage: ``prompt_tokens = total_tokens = sum(1 + len(compact JSON of each input) // 4)``.
A scenario step that fails (``fake-error``) fails the request; other steps are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from trajotel.testing.fake_llm.scenario import compact, pick_step
from trajotel.testing.fake_llm.wire import Reply

PATH = "/v1/embeddings"
DEFAULT_DIMENSIONS = 8


def handle(reply: Reply, request: dict[str, Any], raw: str) -> None:
    step, _ = pick_step(reply.scenarios, request, raw)
    if step.status != 200:
        reply.openai_error(step.status, step.error)
        return
    inputs = _inputs(request.get("input"))
    if not inputs:
        reply.openai_error(400, "'input' must be a non-empty string or list", "invalid_request_error")
        return
    dimensions = request.get("dimensions")
    size = dimensions if isinstance(dimensions, int) and dimensions > 0 else DEFAULT_DIMENSIONS
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = unit_vector(item, size)
        embedding: Any = encode_base64(vector) if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(1 + len(compact(item)) // 4 for item in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    reply.json(200, {"object": "list", "data": data, "model": request.get("model"), "usage": usage})


def _inputs(value: Any) -> list[Any]:
    # A list of ints is one tokenized input; any other list holds one input per item.
    if isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, int) for v in value)
    ):
        return [value]
    return list(value) if isinstance(value, list) else []


def unit_vector(item: Any, size: int) -> list[float]:
    """The deterministic unit vector of one input."""
    seed = compact(item).encode()
    values: list[float] = []
    counter = 0
    while len(values) < size:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        values.extend(b / 127.5 - 1.0 for b in digest)
        counter += 1
    values = values[:size]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
