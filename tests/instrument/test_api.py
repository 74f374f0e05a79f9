"""The agent-facing API: trajectory(), reward()/outcome(), @tool and tool_call()."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import trajotel
from trajotel import semconv as sc
from trajotel.instrument import api


def finished(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    assert len(by_name) == len(spans), "test spans must have distinct names"
    return by_name


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None and parent.context is not None
    return child.parent.span_id == parent.context.span_id


class MyError(Exception):
    pass


# --- trajectory --------------------------------------------------------------------------------


def test_trajectory_span(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    with trajotel.trajectory(
        task="What is 2 + 2?",
        agent="calc",
        metadata={"env": "test", "attempt": 3, "tags": ["a", "b"], "skipped": None},
        tracer_provider=tracer_provider,
    ) as t:
        assert isinstance(t, trajotel.TrajectoryContext)
        assert trajotel.current_trajectory() is t
    assert trajotel.current_trajectory() is None

    span = finished(span_exporter)["invoke_agent calc"]
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span) == {
        sc.GEN_AI_OPERATION_NAME: "invoke_agent",
        sc.GEN_AI_AGENT_NAME: "calc",
        sc.TRAJOTEL_TASK: "What is 2 + 2?",
        "trajotel.metadata.env": "test",
        "trajotel.metadata.attempt": "3",
        "trajotel.metadata.tags": '["a","b"]',
    }


def test_conversation_id_only_when_given(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
):
    with trajotel.trajectory(task="t", agent="a", conversation_id="conv-1", tracer_provider=tracer_provider):
        pass
    with trajotel.trajectory(task="t", agent="b", tracer_provider=tracer_provider):
        pass
    spans = finished(span_exporter)
    assert attrs(spans["invoke_agent a"])[sc.GEN_AI_CONVERSATION_ID] == "conv-1"
    assert sc.GEN_AI_CONVERSATION_ID not in attrs(spans["invoke_agent b"])


def test_trajectory_without_agent_name(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    with trajotel.trajectory(task="t", tracer_provider=tracer_provider):
        pass
    span = finished(span_exporter)["invoke_agent"]
    assert sc.GEN_AI_AGENT_NAME not in attrs(span)


def test_trajectory_exception(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    error = MyError("boom")
    with (
        pytest.raises(MyError) as raised,
        trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider),
    ):
        raise error
    assert raised.value is error
    assert trajotel.current_trajectory() is None
    span = finished(span_exporter)["invoke_agent a"]
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "MyError"
    assert [event.name for event in span.events] == ["exception"]


def test_nested_trajectories(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    with trajotel.trajectory(task="plan", agent="planner", tracer_provider=tracer_provider) as outer:
        with trajotel.trajectory(task="search", agent="searcher", tracer_provider=tracer_provider) as inner:
            assert trajotel.current_trajectory() is inner
            trajotel.reward(0.5)  # the innermost trajectory
        assert trajotel.current_trajectory() is outer
        trajotel.outcome("success")
    spans = finished(span_exporter)
    planner, searcher = spans["invoke_agent planner"], spans["invoke_agent searcher"]
    assert is_child(searcher, planner)
    assert searcher.context.trace_id == planner.context.trace_id
    assert attrs(searcher)[sc.TRAJOTEL_REWARD] == 0.5
    assert sc.TRAJOTEL_OUTCOME not in attrs(searcher)
    assert attrs(planner)[sc.TRAJOTEL_OUTCOME] == "success"
    assert sc.TRAJOTEL_REWARD not in attrs(planner)


def test_trajectory_enters_once(tracer_provider: TracerProvider):
    t = trajotel.trajectory(task="t", tracer_provider=tracer_provider)
    with t:
        pass
    with pytest.raises(RuntimeError), t:
        pass


# --- reward and outcome ------------------------------------------------------------------------


def test_reward_and_outcome_on_handle(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider) as t:
        t.reward(1, reason="exact match")
        t.outcome("partial", reason="one of two answers")
    values = attrs(finished(span_exporter)["invoke_agent a"])
    assert values[sc.TRAJOTEL_REWARD] == 1.0 and isinstance(values[sc.TRAJOTEL_REWARD], float)
    assert values[sc.TRAJOTEL_REWARD_REASON] == "exact match"
    assert values[sc.TRAJOTEL_OUTCOME] == "partial"
    assert values[sc.TRAJOTEL_OUTCOME_REASON] == "one of two answers"


def test_module_level_reward_and_outcome(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
):
    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider):
        trajotel.reward(0.25)
        trajotel.outcome("failure", "wrong answer")
    values = attrs(finished(span_exporter)["invoke_agent a"])
    assert values[sc.TRAJOTEL_REWARD] == 0.25
    assert sc.TRAJOTEL_REWARD_REASON not in values
    assert values[sc.TRAJOTEL_OUTCOME] == "failure"
    assert values[sc.TRAJOTEL_OUTCOME_REASON] == "wrong answer"


def test_reward_and_outcome_outside_a_trajectory_warn(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger=api.__name__):
        trajotel.reward(1.0)
        trajotel.outcome("success")
        trajotel.outcome("not-a-label")  # type: ignore[arg-type]  # never raises outside a trajectory
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "reward() called outside a trajectory" in messages[0]
    assert "outcome() called outside a trajectory" in messages[1]


def test_handle_used_after_its_block_warns(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
):
    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider) as t:
        pass
    with caplog.at_level(logging.WARNING, logger=api.__name__):
        t.reward(1.0)
    assert "outside its trajectory block" in caplog.text
    assert sc.TRAJOTEL_REWARD not in attrs(finished(span_exporter)["invoke_agent a"])


def test_invalid_outcome_and_reward(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider) as t:
        with pytest.raises(ValueError, match="success, partial, failure"):
            t.outcome("great")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            trajotel.outcome("SUCCESS")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            t.reward("1.0")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            t.reward(True)
        with pytest.raises(ValueError):
            t.reward(float("nan"))
    values = attrs(finished(span_exporter)["invoke_agent a"])
    assert sc.TRAJOTEL_OUTCOME not in values and sc.TRAJOTEL_REWARD not in values


# --- async trajectories ------------------------------------------------------------------------


def test_async_trajectory_and_tasks(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(tracer_provider=tracer_provider)
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return f"page at {url}"

    async def worker() -> str:
        # A task created inside the block copies the context: it sees the trajectory.
        page = await fetch("https://example.com")
        trajotel.reward(0.75, "from a task")
        return page

    async def main() -> str:
        async with trajotel.trajectory(task="t", agent="async", tracer_provider=tracer_provider) as t:
            assert trajotel.current_trajectory() is t
            page = await asyncio.create_task(worker())
        assert trajotel.current_trajectory() is None
        return page

    assert asyncio.run(main()) == "page at https://example.com"
    spans = finished(span_exporter)
    root, tool_span = spans["invoke_agent async"], spans["execute_tool fetch"]
    assert is_child(tool_span, root)
    assert attrs(root)[sc.TRAJOTEL_REWARD] == 0.75
    assert attrs(root)[sc.TRAJOTEL_REWARD_REASON] == "from a task"
    assert attrs(tool_span)[sc.GEN_AI_TOOL_CALL_RESULT] == '"page at https://example.com"'


def test_async_trajectory_exception(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    error = MyError("async boom")

    async def main() -> None:
        async with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider):
            raise error

    with pytest.raises(MyError) as raised:
        asyncio.run(main())
    assert raised.value is error
    span = finished(span_exporter)["invoke_agent a"]
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "MyError"


# --- tools -------------------------------------------------------------------------------------


def test_tool_span(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(tracer_provider=tracer_provider)
    def get_weather(city: str, unit: str = "C") -> dict[str, Any]:
        """Current weather in a city.

        Longer text that is not the description.
        """
        return {"city": city, "temperature": 22, "unit": unit}

    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider):
        result = get_weather("Paris")
    assert result == {"city": "Paris", "temperature": 22, "unit": "C"}

    spans = finished(span_exporter)
    root, span = spans["invoke_agent a"], spans["execute_tool get_weather"]
    assert span.kind is SpanKind.INTERNAL
    assert is_child(span, root)
    assert span.status.status_code is StatusCode.UNSET
    values = attrs(span)
    assert values == {
        sc.GEN_AI_OPERATION_NAME: "execute_tool",
        sc.GEN_AI_TOOL_NAME: "get_weather",
        sc.GEN_AI_TOOL_TYPE: "function",
        sc.GEN_AI_TOOL_DESCRIPTION: "Current weather in a city.",
        # What the caller passed: defaults it left out are not arguments of the call.
        sc.GEN_AI_TOOL_CALL_ARGUMENTS: '{"city":"Paris"}',
        sc.GEN_AI_TOOL_CALL_RESULT: '{"city":"Paris","temperature":22,"unit":"C"}',
    }


def test_tool_keeps_function_identity():
    def add(a: int, b: int = 1, *, scale: int = 1) -> int:
        """Add two numbers."""
        return (a + b) * scale

    wrapped = trajotel.tool(add)
    assert wrapped.__name__ == "add"
    assert wrapped.__doc__ == "Add two numbers."
    assert wrapped.__wrapped__ is add  # type: ignore[attr-defined]
    assert inspect.signature(wrapped) == inspect.signature(add)
    assert wrapped(2, 3, scale=2) == 10


def test_tool_name_and_description(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(name="calculator", description="Adds numbers.", tracer_provider=tracer_provider)
    def add(a: int, b: int) -> int:
        """Docstring that the explicit description overrides."""
        return a + b

    @trajotel.tool(tracer_provider=tracer_provider)
    def undocumented(*values: int, **options: Any) -> None:
        return None

    assert add(a=1, b=2) == 3
    assert undocumented(1, 2, fast=True) is None
    spans = finished(span_exporter)
    values = attrs(spans["execute_tool calculator"])
    assert values[sc.GEN_AI_TOOL_NAME] == "calculator"
    assert values[sc.GEN_AI_TOOL_DESCRIPTION] == "Adds numbers."
    assert json.loads(values[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"a": 1, "b": 2}
    values = attrs(spans["execute_tool undocumented"])
    assert sc.GEN_AI_TOOL_DESCRIPTION not in values
    # **options read as named arguments; *values stays a list under its name.
    assert json.loads(values[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"values": [1, 2], "fast": True}
    assert values[sc.GEN_AI_TOOL_CALL_RESULT] == "null"


def test_tool_exception(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    error = MyError("no such city")

    @trajotel.tool(tracer_provider=tracer_provider)
    def get_weather(city: str) -> str:
        raise error

    with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider):
        with pytest.raises(MyError) as raised:
            get_weather("Atlantis")
        assert raised.value is error
    spans = finished(span_exporter)
    span = spans["execute_tool get_weather"]
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "MyError"
    assert sc.GEN_AI_TOOL_CALL_RESULT not in attrs(span)
    # The agent handled the error: the trajectory itself did not fail.
    assert spans["invoke_agent a"].status.status_code is StatusCode.UNSET


def test_async_tool(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    error = MyError("async tool failed")

    @trajotel.tool(tracer_provider=tracer_provider)
    async def lookup(key: str) -> list[str]:
        """Look a key up."""
        await asyncio.sleep(0)
        return [key, key.upper()]

    @trajotel.tool(tracer_provider=tracer_provider)
    async def broken() -> None:
        raise error

    assert inspect.iscoroutinefunction(lookup)

    async def main() -> list[str]:
        async with trajotel.trajectory(task="t", agent="a", tracer_provider=tracer_provider):
            with pytest.raises(MyError) as raised:
                await broken()
            assert raised.value is error
            return await lookup("k")

    assert asyncio.run(main()) == ["k", "K"]
    spans = finished(span_exporter)
    root = spans["invoke_agent a"]
    ok, failed = spans["execute_tool lookup"], spans["execute_tool broken"]
    assert is_child(ok, root) and is_child(failed, root)
    assert attrs(ok)[sc.GEN_AI_TOOL_DESCRIPTION] == "Look a key up."
    assert attrs(ok)[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"key":"k"}'
    assert attrs(ok)[sc.GEN_AI_TOOL_CALL_RESULT] == '["k","K"]'
    assert failed.status.status_code is StatusCode.ERROR
    assert attrs(failed)[sc.ERROR_TYPE] == "MyError"


def test_methods_and_classmethods(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    class Toolbox:
        factor = 10

        def __init__(self) -> None:
            self.offset = 1

        @trajotel.tool(tracer_provider=tracer_provider)
        def shift(self, x: int) -> int:
            """Shift a number."""
            return x + self.offset

        @classmethod
        @trajotel.tool(tracer_provider=tracer_provider)
        def scale(cls, x: int) -> int:
            return x * cls.factor

        @trajotel.tool(tracer_provider=tracer_provider)  # above the classmethod works too
        @classmethod
        def scale_again(cls, x: int) -> int:
            return x * cls.factor

        @trajotel.tool(tracer_provider=tracer_provider)
        @staticmethod
        def negate(x: int) -> int:
            return -x

        @trajotel.tool(tracer_provider=tracer_provider)
        async def ashift(self, x: int) -> int:
            return x + self.offset

    box = Toolbox()
    assert box.shift(1) == 2
    assert Toolbox.scale(2) == 20
    assert box.scale_again(3) == 30
    assert Toolbox.negate(4) == -4
    assert asyncio.run(box.ashift(5)) == 6

    spans = finished(span_exporter)
    expected = {"shift": 1, "scale": 2, "scale_again": 3, "negate": 4, "ashift": 5}
    for name, x in expected.items():
        assert json.loads(attrs(spans[f"execute_tool {name}"])[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"x": x}
    assert attrs(spans["execute_tool shift"])[sc.GEN_AI_TOOL_DESCRIPTION] == "Shift a number."
    assert attrs(spans["execute_tool scale"])[sc.GEN_AI_TOOL_CALL_RESULT] == "20"


def test_tool_call_id(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(tracer_provider=tracer_provider)
    def inner() -> str:
        return "inner"

    @trajotel.tool(tracer_provider=tracer_provider)
    def outer() -> str:
        return inner()

    @trajotel.tool(tracer_provider=tracer_provider)
    def later() -> None:
        pass

    @trajotel.tool(tracer_provider=tracer_provider)
    def unknown() -> None:
        pass

    with trajotel.tool_call("call_1"):
        assert outer() == "inner"
        later()
    with trajotel.tool_call(None):  # None records no id
        unknown()

    spans = finished(span_exporter)
    assert attrs(spans["execute_tool outer"])[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    # Only the first tool span in the block takes the id: not nested tools, not later ones.
    assert sc.GEN_AI_TOOL_CALL_ID not in attrs(spans["execute_tool inner"])
    assert sc.GEN_AI_TOOL_CALL_ID not in attrs(spans["execute_tool later"])
    assert sc.GEN_AI_TOOL_CALL_ID not in attrs(spans["execute_tool unknown"])
    assert is_child(spans["execute_tool inner"], spans["execute_tool outer"])


def test_tool_call_id_per_call(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(tracer_provider=tracer_provider)
    def echo(text: str) -> str:
        return text

    for call_id in ("call_a", "call_b"):
        with trajotel.tool_call(call_id):
            echo(call_id)
    echo("no id")
    ids = {}
    for span in span_exporter.get_finished_spans():
        values = attrs(span)
        ids[json.loads(values[sc.GEN_AI_TOOL_CALL_ARGUMENTS])["text"]] = values.get(sc.GEN_AI_TOOL_CALL_ID)
    assert ids == {"call_a": "call_a", "call_b": "call_b", "no id": None}


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


def test_non_json_values(tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter):
    @trajotel.tool(tracer_provider=tracer_provider)
    def describe(point: Point, thing: Opaque, tags: frozenset[str]) -> dict[str, Any]:
        return {"point": point, "thing": thing}

    @trajotel.tool(tracer_provider=tracer_provider)
    def make() -> Opaque:
        return Opaque()

    @trajotel.tool(tracer_provider=tracer_provider)
    def circular(data: list[Any]) -> list[Any]:
        return data

    thing = Opaque()
    assert describe(Point(1, 2), thing, frozenset({"t"})) == {"point": Point(1, 2), "thing": thing}
    assert isinstance(make(), Opaque)
    loop: list[Any] = []
    loop.append(loop)
    assert circular(loop) is loop  # serialization fails; the call does not

    spans = finished(span_exporter)
    values = attrs(spans["execute_tool describe"])
    assert json.loads(values[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "point": {"x": 1, "y": 2},
        "thing": "<Opaque>",
        "tags": ["t"],
    }
    assert json.loads(values[sc.GEN_AI_TOOL_CALL_RESULT]) == {"point": {"x": 1, "y": 2}, "thing": "<Opaque>"}
    assert json.loads(attrs(spans["execute_tool make"])[sc.GEN_AI_TOOL_CALL_RESULT]) == "<Opaque>"
    values = attrs(spans["execute_tool circular"])
    assert values[sc.GEN_AI_TOOL_CALL_ARGUMENTS] == "{'data': [[...]]}"
    assert values[sc.GEN_AI_TOOL_CALL_RESULT] == "[[...]]"


def test_instrumentation_failure_is_swallowed(
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    @trajotel.tool(tracer_provider=tracer_provider)
    def echo(text: str) -> str:
        return text

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("instrumentation bug")

    monkeypatch.setattr(api._ToolSpec, "arguments_json", broken)
    with caplog.at_level(logging.WARNING):
        assert echo("hi") == "hi"
    values = attrs(finished(span_exporter)["execute_tool echo"])
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in values
    assert values[sc.GEN_AI_TOOL_CALL_RESULT] == '"hi"'


def test_wrong_call_still_fails_as_without_the_decorator(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
):
    @trajotel.tool(tracer_provider=tracer_provider)
    def one(a: int) -> int:
        return a

    with pytest.raises(TypeError):
        one(1, 2)  # type: ignore[call-arg]
    span = finished(span_exporter)["execute_tool one"]
    assert span.status.status_code is StatusCode.ERROR
    assert json.loads(attrs(span)[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"args": [1, 2], "kwargs": {}}


def test_tool_outside_a_trajectory_is_a_root_span(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
):
    @trajotel.tool(tracer_provider=tracer_provider)
    def ping() -> str:
        return "pong"

    assert ping() == "pong"
    assert finished(span_exporter)["execute_tool ping"].parent is None


def test_global_tracer_provider_by_default():
    # Without an SDK configured the API is a no-op: everything still runs and returns unchanged.
    @trajotel.tool
    def double(x: int) -> int:
        return 2 * x

    with trajotel.trajectory(task="t", agent="a") as t:
        assert double(2) == 4
        t.reward(1.0)
        t.outcome("success")


def test_tool_rejects_non_callables():
    with pytest.raises(TypeError):
        trajotel.tool(42)  # type: ignore[call-overload]


# --- import weight -----------------------------------------------------------------------------


def test_import_trajotel_is_light():
    # trajotel is imported inside users' agents: no store drivers, no collector code, no SDK.
    code = (
        "import sys, trajotel\n"
        "assert callable(trajotel.trajectory) and callable(trajotel.tool)\n"
        "heavy = ('chdb', 'clickhouse_connect')\n"
        "collector = ('receive', 'normalize', 'store', 'assemble', 'collector', 'spool', 'cli')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "    or m.split('.')[:2] in [['trajotel', c] for c in collector]\n"
        "    or m.startswith('opentelemetry.sdk')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
