-- GenAI content sent as log events (per-message events of the conventions up to 1.36, the
-- gen_ai.client.inference.operation.details event) is stored once, content-addressed, like span
-- content; the log row keeps the hashes in the same columns spans use.

ALTER TABLE logs ADD COLUMN IF NOT EXISTS InputMessageHashes Array(String) CODEC(ZSTD(1));
ALTER TABLE logs ADD COLUMN IF NOT EXISTS OutputMessageHashes Array(String) CODEC(ZSTD(1));
ALTER TABLE logs ADD COLUMN IF NOT EXISTS SystemInstructionsHash String CODEC(ZSTD(1));
ALTER TABLE logs ADD COLUMN IF NOT EXISTS ToolDefinitionsHash String CODEC(ZSTD(1));
