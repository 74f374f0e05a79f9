from __future__ import annotations

from collections.abc import Iterator

import pytest

from trajotel.testing import FakeLLMServer


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server
