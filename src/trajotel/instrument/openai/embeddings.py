"""Embeddings (``embeddings.create``): span ``embeddings {model}``, operation ``embeddings``.

Records ``gen_ai.request.encoding_formats`` (when the caller sets ``encoding_format``),
``gen_ai.embeddings.dimension.count`` (the requested ``dimensions``, else the length of the first
returned vector), the response model and the input tokens. The conventions define no content
attributes for embeddings, so the input texts and the vectors are never recorded.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from trajotel import semconv as sc
from trajotel.instrument import genai
from trajotel.instrument.openai.wrappers import Api

_FLOAT32_BYTES = 4


def _dimension_count(embedding: Any) -> int | None:
    """The length of one returned vector (a list of floats, or base64 float32 bytes)."""
    if isinstance(embedding, (list, tuple)):
        return len(embedding)
    if isinstance(embedding, str):
        try:
            return len(base64.b64decode(embedding, validate=True)) // _FLOAT32_BYTES
        except (binascii.Error, ValueError):
            return None
    return None


class EmbeddingsApi(Api):
    operation = sc.OP_EMBEDDINGS

    def request_attributes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        encoding = kwargs.get("encoding_format")
        return {
            sc.GEN_AI_REQUEST_ENCODING_FORMATS: [encoding] if isinstance(encoding, str) else None,
            sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: genai.number(kwargs.get("dimensions")),
        }

    def response_attributes(self, response: Any) -> dict[str, Any]:
        data = genai.field(response, "data") or ()
        first = genai.field(data[0], "embedding") if data else None
        usage = genai.usage_attributes(genai.field(response, "usage"))
        return {
            sc.GEN_AI_RESPONSE_MODEL: genai.field(response, "model"),
            sc.GEN_AI_USAGE_INPUT_TOKENS: usage.get(sc.GEN_AI_USAGE_INPUT_TOKENS),
            # Set after the request's own value (if any), which it never contradicts.
            sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: _dimension_count(first),
        }


API = EmbeddingsApi()
