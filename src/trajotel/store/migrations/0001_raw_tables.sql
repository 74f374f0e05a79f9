-- Raw, append-only tables: what arrived over OTLP, after dialect normalization.
-- Column names follow the OpenTelemetry Collector's otel_traces / otel_logs tables where that
-- costs nothing, so existing ClickHouse tooling feels at home. Rows are ordered for reassembly
-- (tenant, trace, time), not for APM dashboards.

CREATE TABLE IF NOT EXISTS spans
(
    Tenant LowCardinality(String),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String),
    Timestamp DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    EndTimestamp DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String),
    StatusMessage String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String),
    ScopeVersion LowCardinality(String),
    SchemaUrl LowCardinality(String),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    `Events.Timestamp` Array(DateTime64(9, 'UTC')) CODEC(ZSTD(1)),
    `Events.Name` Array(LowCardinality(String)) CODEC(ZSTD(1)),
    `Events.Attributes` Array(Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    `Links.TraceId` Array(String) CODEC(ZSTD(1)),
    `Links.SpanId` Array(String) CODEC(ZSTD(1)),
    `Links.TraceState` Array(String) CODEC(ZSTD(1)),
    `Links.Attributes` Array(Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    -- GenAI keys promoted to typed columns, whatever dialect they arrived in.
    Dialect LowCardinality(String),
    Operation LowCardinality(String),
    Provider LowCardinality(String),
    RequestModel LowCardinality(String),
    ResponseModel LowCardinality(String),
    ResponseId String CODEC(ZSTD(1)),
    ConversationId String CODEC(ZSTD(1)),
    AgentName LowCardinality(String),
    ToolName LowCardinality(String),
    ToolCallId String CODEC(ZSTD(1)),
    InputTokens Nullable(Int64),
    OutputTokens Nullable(Int64),
    FinishReasons Array(LowCardinality(String)),
    ErrorType LowCardinality(String),
    -- Message content by reference into message_contents: an agent's k-turn history is not
    -- stored k times.
    InputMessageHashes Array(String) CODEC(ZSTD(1)),
    OutputMessageHashes Array(String) CODEC(ZSTD(1)),
    SystemInstructionsHash String CODEC(ZSTD(1)),
    ToolDefinitionsHash String CODEC(ZSTD(1)),
    IngestedAt DateTime64(6, 'UTC') DEFAULT now64(6),
    INDEX idx_conversation ConversationId TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_response ResponseId TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Tenant, TraceId, Timestamp, SpanId)
-- Inserts carry deduplication tokens (spool position), so a replay after a crash is a no-op.
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS message_contents
(
    Tenant LowCardinality(String),
    Hash String,
    Kind LowCardinality(String),
    Content String CODEC(ZSTD(3)),
    FirstSeen DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY (Tenant, Hash);

CREATE TABLE IF NOT EXISTS logs
(
    Tenant LowCardinality(String),
    Timestamp DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    ObservedTimestamp DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt32,
    SeverityText LowCardinality(String),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String),
    EventName LowCardinality(String),
    Body String CODEC(ZSTD(3)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String),
    ScopeVersion LowCardinality(String),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    IngestedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Tenant, TraceId, SpanId, Timestamp)
SETTINGS non_replicated_deduplication_window = 10000;
