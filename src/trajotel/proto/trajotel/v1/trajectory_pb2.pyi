from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Trajectory(_message.Message):
    __slots__ = ("id", "version", "tenant", "service_name", "agent_name", "agent_id", "task", "framework", "trace_ids", "root_span_id", "parent_trajectory_id", "conversation_id", "start_time_unix_nano", "end_time_unix_nano", "status", "outcome", "reward", "feedback", "tags", "metadata", "models", "tools_used", "usage", "system_instructions", "tool_definitions", "turns", "span_count", "assembled_at_unix_nano")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    FRAMEWORK_FIELD_NUMBER: _ClassVar[int]
    TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    ROOT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_TRAJECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_USED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    TOOL_DEFINITIONS_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    SPAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    ASSEMBLED_AT_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    tenant: str
    service_name: str
    agent_name: str
    agent_id: str
    task: str
    framework: str
    trace_ids: _containers.RepeatedScalarFieldContainer[str]
    root_span_id: str
    parent_trajectory_id: str
    conversation_id: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: str
    outcome: Outcome
    reward: float
    feedback: _containers.RepeatedCompositeFieldContainer[Feedback]
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    models: _containers.RepeatedScalarFieldContainer[str]
    tools_used: _containers.RepeatedScalarFieldContainer[str]
    usage: Usage
    system_instructions: _containers.RepeatedCompositeFieldContainer[Part]
    tool_definitions: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Struct]
    turns: _containers.RepeatedCompositeFieldContainer[Turn]
    span_count: int
    assembled_at_unix_nano: int
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., tenant: _Optional[str] = ..., service_name: _Optional[str] = ..., agent_name: _Optional[str] = ..., agent_id: _Optional[str] = ..., task: _Optional[str] = ..., framework: _Optional[str] = ..., trace_ids: _Optional[_Iterable[str]] = ..., root_span_id: _Optional[str] = ..., parent_trajectory_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., status: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ..., reward: _Optional[float] = ..., feedback: _Optional[_Iterable[_Union[Feedback, _Mapping]]] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., models: _Optional[_Iterable[str]] = ..., tools_used: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., system_instructions: _Optional[_Iterable[_Union[Part, _Mapping]]] = ..., tool_definitions: _Optional[_Iterable[_Union[_struct_pb2.Struct, _Mapping]]] = ..., turns: _Optional[_Iterable[_Union[Turn, _Mapping]]] = ..., span_count: _Optional[int] = ..., assembled_at_unix_nano: _Optional[int] = ...) -> None: ...

class Turn(_message.Message):
    __slots__ = ("index", "trace_id", "span_id", "provider", "request_model", "response_model", "response_id", "start_time_unix_nano", "end_time_unix_nano", "inherited_input_count", "new_input_messages", "output_messages", "tool_calls", "finish_reasons", "usage", "error_type", "status_message", "reward", "output_token_ids", "output_logprobs", "prompt_token_ids")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    INHERITED_INPUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEW_INPUT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    index: int
    trace_id: str
    span_id: str
    provider: str
    request_model: str
    response_model: str
    response_id: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    inherited_input_count: int
    new_input_messages: _containers.RepeatedCompositeFieldContainer[Message]
    output_messages: _containers.RepeatedCompositeFieldContainer[Message]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    finish_reasons: _containers.RepeatedScalarFieldContainer[str]
    usage: Usage
    error_type: str
    status_message: str
    reward: float
    output_token_ids: _containers.RepeatedScalarFieldContainer[int]
    output_logprobs: _containers.RepeatedScalarFieldContainer[float]
    prompt_token_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[int] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., provider: _Optional[str] = ..., request_model: _Optional[str] = ..., response_model: _Optional[str] = ..., response_id: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., inherited_input_count: _Optional[int] = ..., new_input_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., output_messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., finish_reasons: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., error_type: _Optional[str] = ..., status_message: _Optional[str] = ..., reward: _Optional[float] = ..., output_token_ids: _Optional[_Iterable[int]] = ..., output_logprobs: _Optional[_Iterable[float]] = ..., prompt_token_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "parts", "name", "finish_reason", "extra")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    role: str
    parts: _containers.RepeatedCompositeFieldContainer[Part]
    name: str
    finish_reason: str
    extra: _struct_pb2.Struct
    def __init__(self, role: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[Part, _Mapping]]] = ..., name: _Optional[str] = ..., finish_reason: _Optional[str] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Part(_message.Message):
    __slots__ = ("type", "content", "id", "name", "arguments", "response", "mime_type", "modality", "uri", "file_id", "extra")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    type: str
    content: str
    id: str
    name: str
    arguments: _struct_pb2.Value
    response: _struct_pb2.Value
    mime_type: str
    modality: str
    uri: str
    file_id: str
    extra: _struct_pb2.Struct
    def __init__(self, type: _Optional[str] = ..., content: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., response: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., mime_type: _Optional[str] = ..., modality: _Optional[str] = ..., uri: _Optional[str] = ..., file_id: _Optional[str] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments", "result", "status", "error_type", "span_id", "start_time_unix_nano", "end_time_unix_nano", "result_source")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESULT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments: _struct_pb2.Value
    result: _struct_pb2.Value
    status: str
    error_type: str
    span_id: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    result_source: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., status: _Optional[str] = ..., error_type: _Optional[str] = ..., span_id: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., result_source: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_write_input_tokens", "reasoning_output_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    reasoning_output_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cache_write_input_tokens: _Optional[int] = ..., reasoning_output_tokens: _Optional[int] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("label", "confidence", "reasons", "source")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    label: str
    confidence: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, label: _Optional[str] = ..., confidence: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("id", "trajectory_id", "turn_index", "source", "value", "label", "comment", "author", "created_at_unix_nano")
    ID_FIELD_NUMBER: _ClassVar[int]
    TRAJECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_INDEX_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    id: str
    trajectory_id: str
    turn_index: int
    source: str
    value: float
    label: str
    comment: str
    author: str
    created_at_unix_nano: int
    def __init__(self, id: _Optional[str] = ..., trajectory_id: _Optional[str] = ..., turn_index: _Optional[int] = ..., source: _Optional[str] = ..., value: _Optional[float] = ..., label: _Optional[str] = ..., comment: _Optional[str] = ..., author: _Optional[str] = ..., created_at_unix_nano: _Optional[int] = ...) -> None: ...
