-- A tool's result was stored three times: inline in its execute_tool span's attributes, as the
-- tool message of the next model call's input (message_contents), and in turns_data. The span's
-- `gen_ai.tool.call.result` now becomes that tool message ({"role": "tool", "parts": [{"type":
-- "tool_call_response", "id": <call id>, "response": <result>}]}), stored content-addressed like
-- every message, so when the agent hands the model the result the tool returned, both are one
-- row; the span keeps its hash. Spans written before this migration keep the attribute.
ALTER TABLE spans ADD COLUMN IF NOT EXISTS ToolCallResultHash String CODEC(ZSTD(1)) AFTER ToolDefinitionsHash;
