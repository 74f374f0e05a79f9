"""Attribute, span and event names used across trajotel, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (1.37+ "latest" shape).
Dialect-specific names (OpenLLMetry, OpenInference, ...) live in the rename tables of
``trajotel.normalize``, not here.
"""

from __future__ import annotations

# --- operations --------------------------------------------------------------
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_GENERATE_CONTENT = "generate_content"
OP_EMBEDDINGS = "embeddings"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_AGENT = "invoke_agent"
OP_CREATE_AGENT = "create_agent"
INFERENCE_OPERATIONS = frozenset({OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT})

# --- GenAI span attributes ---------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated (<=1.36), mapped to provider.name
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID = "gen_ai.request.previous_response.id"  # dev
GEN_AI_REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"

# Content (opt-in in the conventions; on by default in trajotel: a trajectory needs content).
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"
CONTENT_ATTRIBUTES = (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOOL_DEFINITIONS,
)

OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
# Which OpenAI API a span's call used: "chat_completions" or "responses".
OPENAI_API_TYPE = "openai.api.type"

# Keys that mark another instrumentation's LLM span (the HTTP catch-all records nothing under
# one): OpenInference's span kind (values LLM, EMBEDDING) and OpenLLMetry's legacy request type.
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
OPENINFERENCE_MODEL_SPAN_KINDS = frozenset({"LLM", "EMBEDDING"})
OPENLLMETRY_REQUEST_TYPE = "llm.request.type"

# --- GenAI client metrics ----------------------------------------------------------
GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"

SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
SERVICE_NAME = "service.name"
EVENT_NAME = "event.name"
# The opt-in event that carries one inference call: its span attributes and content, structured.
EVENT_GEN_AI_OPERATION_DETAILS = "gen_ai.client.inference.operation.details"

# --- trajotel's own attributes (namespaced; never invent gen_ai.conversation.id) -------
TRAJOTEL_TASK = "trajotel.task"
TRAJOTEL_TENANT = "trajotel.tenant"
TRAJOTEL_OUTCOME = "trajotel.outcome"
TRAJOTEL_REWARD = "trajotel.reward"
TRAJOTEL_OUTCOME_REASON = "trajotel.outcome.reason"
TRAJOTEL_REWARD_REASON = "trajotel.reward.reason"
# Per-token output of an inference call, for training on trajectories (JSON arrays).
TRAJOTEL_OUTPUT_LOGPROBS = "trajotel.output.logprobs"
TRAJOTEL_OUTPUT_TOKENS = "trajotel.output.tokens"
TRAJOTEL_PROMPT_TOKEN_IDS = "trajotel.prompt.token_ids"
TRAJOTEL_OUTPUT_TOKEN_IDS = "trajotel.output.token_ids"
# The GenAI evaluation event (semconv 1.37) and trajotel's additions to it (feedback).
EVENT_GEN_AI_EVALUATION_RESULT = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
TRAJOTEL_FEEDBACK_SOURCE = "trajotel.feedback.source"
TRAJOTEL_FEEDBACK_AUTHOR = "trajotel.feedback.author"
TRAJOTEL_FEEDBACK_TURN_INDEX = "trajotel.feedback.turn_index"
FEEDBACK_EVALUATION_NAME = "trajotel.feedback"  # the event's name when it has no label of its own
# User metadata of a trajectory: one string attribute per key, ``trajotel.metadata.<key>``.
TRAJOTEL_METADATA_PREFIX = "trajotel.metadata."
# The only values of trajotel.outcome the collector takes as explicit (anything else is ignored).
OUTCOME_LABELS = ("success", "partial", "failure")

# --- tool types (gen_ai.tool.type) -------------------------------------------------------
TOOL_TYPE_FUNCTION = "function"
# Run by the agent to reach an external service (an MCP server's tool).
TOOL_TYPE_EXTENSION = "extension"
# error.type of a tool call that returned a failure instead of raising (MCP isError, a
# LangChain tool error handled into a message).
ERROR_TYPE_TOOL_ERROR = "tool_error"

# --- message part types (GenAI conventions) ---------------------------------------
PART_TEXT = "text"
PART_REASONING = "reasoning"
PART_TOOL_CALL = "tool_call"
PART_TOOL_CALL_RESPONSE = "tool_call_response"
PART_URI = "uri"
PART_BLOB = "blob"
PART_FILE = "file"

# --- content capture switch --------------------------------------------------------
ENV_CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# "module.path:function": a hook that redacts content before it is recorded.
ENV_REDACT = "TRAJOTEL_REDACT"

# --- defaults shared by the collector and the distro ---------------------------------
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
