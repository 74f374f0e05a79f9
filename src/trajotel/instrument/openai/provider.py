"""Which provider an ``openai`` client talks to: ``gen_ai.provider.name`` and ``server.*``.

The openai SDK is the client of many OpenAI-compatible APIs. ``AzureOpenAI`` / ``AsyncAzureOpenAI``
are Azure OpenAI whatever their endpoint; any other client is named from its base URL's host by
the table below (the conventions' well-known values where one exists, the service's own name
otherwise), and a host the table does not know (a local vLLM, a proxy) is "openai": it speaks the
OpenAI API, and ``server.address`` says where it runs.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from trajotel import semconv as sc
from trajotel.instrument import genai

OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"

# Host (or parent domain) → provider name. The first entry matching the host or one of its
# parent domains wins, so more specific hosts come first.
HOST_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", OPENAI),
    ("openai.azure.com", AZURE_OPENAI),
    ("models.inference.ai.azure.com", "azure.ai.inference"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.moonshot.ai", "moonshot_ai"),
    ("api.moonshot.cn", "moonshot_ai"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.anthropic.com", "anthropic"),
)


def provider_from_host(host: str | None) -> str | None:
    """The provider a host belongs to, or None when the table does not know it."""
    if not host:
        return None
    host = host.lower().rstrip(".")
    for known, provider in HOST_PROVIDERS:
        if host == known or host.endswith("." + known):
            return provider
    return None


def _is_azure(client: Any) -> bool:
    import openai  # loaded already: the client is one of its objects

    return isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI))


def provider_name(resource: Any) -> str:
    """``gen_ai.provider.name`` for a call made through an SDK resource (``client.chat.completions``)."""
    client = getattr(resource, "_client", None)
    if genai.safe_call(_is_azure, client, default=False):
        return AZURE_OPENAI
    return _provider_of_url(genai.client_base_url(resource))


@genai.cached_by_identity
def _provider_of_url(base_url: Any) -> str:
    host = urlsplit(str(base_url)).hostname if base_url is not None else None
    return provider_from_host(host) or OPENAI


def client_attributes(resource: Any) -> dict[str, Any]:
    """``gen_ai.provider.name`` and ``server.*`` of a call through an SDK resource, per call.

    Computed once per client class kind and base URL object (the SDK keeps the same URL object
    until the client's ``base_url`` is set again): the result is shared, read only.
    """
    client = getattr(resource, "_client", None)
    base_url = getattr(client, "base_url", None)
    if genai.safe_call(_is_azure_class, type(client), default=False):
        return _azure_url_attributes(base_url)
    return _url_attributes(base_url)


@functools.lru_cache(maxsize=64)
def _is_azure_class(cls: type) -> bool:
    import openai  # loaded already: the client is one of its objects

    return issubclass(cls, (openai.AzureOpenAI, openai.AsyncAzureOpenAI))


def _attributes_of_url(base_url: Any, provider: str | None = None) -> dict[str, Any]:
    # Each part guarded on its own: a failing one loses only its own attributes.
    name = provider or genai.safe_call(_provider_of_url, base_url) or OPENAI
    attributes: dict[str, Any] = {sc.GEN_AI_PROVIDER_NAME: name}
    attributes.update(genai.safe_call(genai.client_server_attributes, base_url, default={}) or {})
    return attributes


_url_attributes = genai.cached_by_identity(_attributes_of_url)
_azure_url_attributes = genai.cached_by_identity(functools.partial(_attributes_of_url, provider=AZURE_OPENAI))
