"""pydantic-ai / Logfire.

pydantic-ai's instrumentation version 2 and later (the default since pydantic-ai 1.0) sends GenAI
1.37 spans (``invoke_agent``, ``chat``, ``execute_tool``) that the GenAI tables read; only a few
names are its own. Version 1 (older pydantic-ai, ``InstrumentationSettings(version=1)``) names its
spans ``agent run`` / ``running tool`` and puts the messages in an ``events`` attribute: a JSON
list of GenAI <= 1.36 events (``gen_ai.user.message``, ``gen_ai.choice``, ...) with the event name
in ``event.name``, converted here like those events sent as log records.
"""

from __future__ import annotations

from trajotel import semconv as sc
from trajotel.normalize.dialect import Dialect, Shaped
from trajotel.normalize.events import event_message
from trajotel.normalize.values import json_or_text

EVENTS = "events"


def _events(attributes: dict[str, str], shaped: Shaped) -> None:
    events = json_or_text(attributes.get(EVENTS))
    if not isinstance(events, list):
        raise ValueError("events: must be a JSON list of GenAI events")
    inputs, outputs = [], []
    for event in events:
        if not isinstance(event, dict):
            raise ValueError(f"events: each event must be a JSON object, got {type(event).__name__}")
        converted = event_message(str(event.get("event.name", "")), event)
        if converted is not None:
            (outputs if converted[0] else inputs).append(converted[1])
    if inputs or outputs:
        shaped.input_messages, shaped.output_messages = inputs, outputs
        shaped.consumed.add(EVENTS)


def shape(attributes: dict[str, str]) -> Shaped:
    shaped = Shaped()
    if EVENTS in attributes and sc.GEN_AI_INPUT_MESSAGES not in attributes:
        _events(attributes, shaped)
    if attributes.get("agent_name") and ("all_messages_events" in attributes or "final_result" in attributes):
        # version 1 `agent run` span
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "invoke_agent"
        shaped.attributes[sc.GEN_AI_AGENT_NAME] = attributes["agent_name"]
    elif attributes.get(sc.GEN_AI_TOOL_NAME) and sc.GEN_AI_OPERATION_NAME not in attributes:  # `running tool`
        shaped.attributes[sc.GEN_AI_OPERATION_NAME] = "execute_tool"
    return shaped


DIALECT = Dialect(
    name="pydantic_ai",
    markers=(
        "logfire.json_schema",
        "logfire.msg",
        "model_request_parameters",
        "all_messages_events",
        "tool_arguments",
    ),
    renames={
        "gen_ai.usage.details.reasoning_tokens": sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        "tool_arguments": sc.GEN_AI_TOOL_CALL_ARGUMENTS,
        "tool_response": sc.GEN_AI_TOOL_CALL_RESULT,
        "model_name": sc.GEN_AI_REQUEST_MODEL,
    },
    shape=shape,
)
